"""Connectors: one module per source (DICOM files, Orthanc, DICOMweb, HL7 v2, FHIR, storage
events, storage inventories, OpenLineage).

The contract of a connector: a function or class that reads its source and yields
`lineage.pipeline.Record`s — `Node`/`Edge` facts, a `Bundle` per source record (one file, one
message: written whole or not at all), or `Rejected(location, reason)` for a record it cannot use,
then goes on. Build a record's facts with `lineage.pipeline.emit(location, build)` so that a
`UserError` while building rejects that record only. Patients only ever enter as
`lineage.identity.patient_key(...)`. Keep I/O (`get_*`) apart from pure transforms
(`transform_*`), which are unit-tested without a server.
"""
