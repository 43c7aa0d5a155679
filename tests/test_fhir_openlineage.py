"""FHIR R4 resources (reference shapes) and OpenLineage RunEvents, into each store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.fhir import FhirSource, fhir_records, read_resources
from connectors.openlineage import read_events
from connectors.patients import current_studies
from lineage.identity import patient_key
from lineage.ingest import ingest as run_ingest
from lineage.pipeline import RunReport
from lineage.stores import GraphStore
from tests.test_cli import lineage

SECRET = b"f" * 32
UID = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
MRN_SYSTEM = "http://genhosp.example/mrn"


def imaging_study(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "ImagingStudy", "id": "ct-small",
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{UID}"},
                           {"type": {"coding": [{"system": "http://terminology.hl7.org/"
                                                 "CodeSystem/v2-0203", "code": "ACSN"}]},
                            "system": "http://genhosp.example/accession",
                            "value": "ACC20240115001"}],
            "status": "available", "modality": [{"code": "CT"}],
            "subject": {"reference": "Patient/mrn12345"}, "started": "2004-01-19T07:27:30Z",
            "endpoint": [{"reference": "Endpoint/orthanc-wadors"}],
            "series": [{"uid": SERIES, "modality": {"code": "CT"}, "numberOfInstances": 1,
                        "instance": [{"uid": "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"}]}],
            **extra}


def patient(id_: str, mrn: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_,
            "identifier": [{"type": {"coding": [{"code": "MR"}]}, "system": MRN_SYSTEM,
                            "value": mrn}], "birthDate": "1980-05-15", **extra}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def ingest(store: GraphStore, tmp_path: Path, *documents: Any, ndjson: bool = False) -> RunReport:
    path = tmp_path / f"input-{len(list(tmp_path.iterdir()))}.json"
    path.write_text("\n".join(json.dumps(d) for d in documents) if ndjson
                    else json.dumps(documents[0]))
    source = FhirSource("EHR-FHIR", SECRET, {MRN_SYSTEM: "GENHOSP"})
    return run_ingest(store, fhir_records(read_resources([path]), source,
                                            current_studies(store)), "fhir")


def test_imaging_study_report_patient_in_a_bundle(any_store: GraphStore, tmp_path: Path) -> None:
    report = ingest(any_store, tmp_path, bundle(
        {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
         "imagingStudy": [{"reference": "ImagingStudy/ct-small"}]},
        imaging_study(), patient("mrn12345", "MRN12345", deceasedDateTime="2024-02-28"),
        {"resourceType": "Endpoint", "id": "orthanc-wadors", "address": "http://pacs/dicom-web"}))
    assert report.rejected == []
    jane = patient_key("GENHOSP", "MRN12345", SECRET)  # the namespace HL7 uses too
    assert any_store.neighbours(f"study:{UID}") == [jane]
    assert any_store.get_node(jane).properties["death_date"] == "2024-02-28"  # type: ignore[union-attr]
    copy = any_store.get_node(f"object:EHR-FHIR:{SERIES}")
    assert copy is not None and copy.properties["uri"] == "http://pacs/dicom-web"
    assert any_store.neighbours("report:EHR-FHIR/r1") == [f"study:{UID}"]
    order = "order:http://genhosp.example/accession/ACC20240115001"  # system not mapped
    assert any_store.neighbours(order) == [f"study:{UID}"]


def test_provenance_audit_and_merge_in_ndjson(any_store: GraphStore, tmp_path: Path) -> None:
    copy_uid = "1.2.826.0.1.99"
    deid = imaging_study(id="deid", identifier=[{"system": "urn:dicom:uid",
                                                 "value": f"urn:oid:{copy_uid}"}],
                         subject={"reference": "Patient/old"}, series=[])
    provenance = {"resourceType": "Provenance", "target": [{"reference": "ImagingStudy/deid"}],
                  "recorded": "2024-03-01T12:00:00Z",
                  "entity": [{"role": "derivation",
                              "what": {"reference": "ImagingStudy/ct-small"}}]}
    audit = {"resourceType": "AuditEvent", "recorded": "2024-03-02T09:00:00Z", "action": "R",
             "agent": [{"who": {"display": "dr-smith"}}],
             "entity": [{"what": {"identifier": {"system": "urn:dicom:uid",
                                                 "value": f"urn:oid:{UID}"}}}]}
    ingest(any_store, tmp_path, imaging_study(), deid, provenance, audit,
           patient("mrn12345", "MRN12345"), patient("old", "MRN99999"), ndjson=True)
    derived = any_store.edges(f"study:{copy_uid}", "out", ["DERIVED_FROM"])  # type: ignore[list-item]
    assert [(e.dst, e.properties["kind"]) for e in derived] == [(f"study:{UID}", "derivation")]
    study = any_store.get_node(f"study:{UID}").properties  # type: ignore[union-attr]
    assert study["accessed_by"] == ["dr-smith"]
    assert study["last_accessed_at"] == "2024-03-02T09:00:00.000000Z"

    old = patient("old", "MRN99999", link=[{"type": "replaced-by",
                                             "other": {"reference": "Patient/mrn12345"}}])
    ingest(any_store, tmp_path, bundle(old, patient("mrn12345", "MRN12345")))
    survivor = patient_key("GENHOSP", "MRN12345", SECRET)
    current = [e.dst for e in any_store.edges(f"study:{copy_uid}", "out", ["OF_PATIENT"])  # type: ignore[list-item]
               if "valid_to" not in e.properties]
    assert current == [survivor]


def test_bad_resources_are_reported(any_store: GraphStore, tmp_path: Path) -> None:
    report = ingest(any_store, tmp_path, bundle(
        {"resourceType": "Observation", "id": "o"},
        imaging_study(identifier=[]),
        {"resourceType": "DiagnosticReport", "id": "r",
         "imagingStudy": [{"reference": "ImagingStudy/missing"}]},
        {"notAResource": True}))
    reasons = sorted(r.reason for r in report.rejected)
    assert reasons == [
        "DiagnosticReport: imagingStudy 'ImagingStudy/missing' is not in the input",
        "ImagingStudy: no identifier with system urn:dicom:uid",
        "not a FHIR resource: no resourceType",
    ]
    assert [n.message for n in report.notices] == [
        "1 Observation resource not used by the engine: skipped"]
    assert all("#entry[" in r.location for r in report.rejected)


def test_openlineage_run_events(any_store: GraphStore, tmp_path: Path) -> None:
    def event(kind: str, time: str, **extra: Any) -> dict[str, Any]:
        return {"eventType": kind, "eventTime": time, "producer": "https://marquez",
                "run": {"runId": "r-1"}, "job": {"namespace": "ai", "name": "train-nodules"},
                **extra}

    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in [
        event("START", "2024-03-01T10:00:00Z", inputs=[
            {"namespace": "https://pacs/dicom-web", "name": "studies/1.2.3/series/1.2.3.4"},
            {"namespace": "dicom://vna", "name": "studies/1.2.9"}]),
        event("COMPLETE", "2024-03-01T11:00:00Z", outputs=[
            {"namespace": "s3://models", "name": "nodule-v3"}]),
        {"eventType": "START"}]) + "\n")
    report = run_ingest(any_store, read_events([path]), "openlineage")

    [rejected] = report.rejected
    assert rejected.location.endswith("events.ndjson:3") and "run.runId" in rejected.reason
    run = any_store.get_node("run:r-1").properties  # type: ignore[union-attr]
    assert (run["job"], run["state"]) == ("job:ai/train-nodules", "COMPLETE")
    assert run["started_at"] == "2024-03-01T10:00:00.000000Z"
    assert run["ended_at"] == "2024-03-01T11:00:00.000000Z"
    assert {(e.type.value, e.dst) for e in any_store.edges("run:r-1")} == {
        ("RUN_OF", "job:ai/train-nodules"),
        ("READ", "series:1.2.3.4"), ("READ", "dataset:dicom://vna/studies/1.2.9"),
        ("WROTE", "dataset:s3://models/nodule-v3")}
    assert any_store.neighbours("dataset:dicom://vna/studies/1.2.9") == ["study:1.2.9"]


def test_fhir_and_openlineage_cli(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(imaging_study()))
    fhir = lineage("ingest", "fhir", "s.json", "--system", "EHR-FHIR", "--issuer",
                   f"{MRN_SYSTEM}=GENHOSP", "--json", cwd=tmp_path)
    assert fhir.returncode == 0, fhir.stderr
    assert json.loads(fhir.stdout)["nodes_by_kind"]["Study"] == 1
    (tmp_path / "e.json").write_text(json.dumps({
        "eventType": "COMPLETE", "eventTime": "2024-03-01T11:00:00Z", "run": {"runId": "x"},
        "job": {"namespace": "ai", "name": "j"}}))
    assert lineage("ingest", "openlineage", "e.json", cwd=tmp_path).returncode == 0
