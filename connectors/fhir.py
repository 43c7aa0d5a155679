"""FHIR R4 JSON → lineage: single resources, Bundles and Bulk Data ndjson.

- ImagingStudy: the study (identifier `urn:dicom:uid`, `urn:oid:` prefix stripped), its series
  and a copy of each series in the system (`--system`) with its instance count and the
  Endpoint address; the subject patient; an accession identifier (type ACSN) as an Order
  FULFILLED_BY the study.
- DiagnosticReport: `report:<system>/<id>` DESCRIBES each referenced ImagingStudy's study.
- Patient: birthDate (year-month), deceased; `link` replaced-by merges this patient into the
  other (as ADT^A40 does).
- Provenance: each entity of an ImagingStudy target becomes DERIVED_FROM (study → entity study)
  with the entity role as kind (derivation, revision, quotation, source, removal).
- AuditEvent: who accessed a study (`accessed_by`, `last_accessed_at` on the study); an IHE BALP
  AuditEvent of a DCM copy or deletion event (110104, 110105, 110106, 110107) becomes the same
  lineage as the ATNA audit message would (connectors.atna).
References between resources resolve across all the input (resources are read first, then
transformed), so order does not matter. Patients are keyed by their identifier (the MR one,
else the first) with its issuer: `--issuer SYSTEM_URI=NAMESPACE` maps an identifier system to
the namespace HL7 and DICOM use; a patient known only by reference gets `fhir:<system>` + id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from connectors.atna import AtnaSource, SystemMap, balp_event
from connectors.json_input import documents_of, read_documents
from connectors.patients import StudiesOf, current_studies, merge_patients
from lineage.errors import UserError
from lineage.identity import patient_key
from lineage.model import (
    DICOM_UID_SYSTEM,
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    make_key,
    object_key,
)
from lineage.pipeline import Bundle, Commit, Notice, Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext, SystemCode
from lineage.timefmt import utc_now

SUPPORTED = {"ImagingStudy", "DiagnosticReport", "Patient", "Provenance", "AuditEvent",
             "Endpoint"}


class FhirError(UserError):
    """A resource that cannot be used (reported with its location; the run goes on)."""


@dataclass(frozen=True, slots=True)
class FhirSource:
    system: str
    secret: bytes
    issuers: Mapping[str, str] = field(default_factory=dict)
    audit: AtnaSource | None = None  # copy and deletion AuditEvents, as ATNA messages are read

    @property
    def connector(self) -> str:
        return f"fhir:{self.system}"


@dataclass(slots=True)
class Resource:
    location: str
    body: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.body.get("resourceType", ""))

    @property
    def reference(self) -> str:
        return f"{self.type}/{self.body.get('id', '')}"


def read_resources(paths: Iterable[Path]) -> Iterator[Resource | Rejected]:
    """Resources of JSON files (a resource or a Bundle) and ndjson files (one per line)."""
    for item in read_documents(paths):
        yield from _resources(item)


def resources_of(texts: Iterable[tuple[str, str] | Rejected]) -> Iterator[Resource | Rejected]:
    """Resources of texts (files or request bodies): JSON resources, Bundles, ndjson lines."""
    for item in documents_of(texts):
        yield from _resources(item)


def _resources(item: tuple[str, Any] | Rejected) -> Iterator[Resource | Rejected]:
    if isinstance(item, Rejected):
        yield item
    else:
        yield from _unbundle(item[1], item[0])


def _unbundle(document: Any, location: str) -> Iterator[Resource | Rejected]:
    if not isinstance(document, dict) or "resourceType" not in document:
        yield Rejected(location, "not a FHIR resource: no resourceType")
        return
    if document["resourceType"] == "Bundle":
        entries = document.get("entry") or []
        if not isinstance(entries, list):
            yield Rejected(location, "Bundle.entry is not a list")
            return
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            yield from _unbundle(resource, f"{location}#entry[{index}]")
        return
    yield Resource(location, document)


class _Context:
    """What the resources say about each other: patients, studies, endpoints by reference."""

    def __init__(self, resources: list[Resource], source: FhirSource):
        self.source = source
        self.by_reference = {r.reference: r for r in resources}

    def patient(self, reference: str) -> str:
        resource = self.by_reference.get(reference)
        if resource is not None:
            identifiers = resource.body.get("identifier") or []
            chosen = next((i for i in identifiers if _code(i.get("type")) == "MR"),
                          identifiers[0] if identifiers else None)
            if chosen and chosen.get("value"):
                system = str(chosen.get("system") or "")
                issuer = self.source.issuers.get(system) or (chosen.get("assigner") or {}).get(
                    "display") or system
                return patient_key(issuer, str(chosen["value"]), self.source.secret)
        if "/" not in reference:
            raise FhirError(f"patient reference {reference!r} is not Patient/<id>")
        return patient_key(f"fhir:{self.source.system}", reference.split("/", 1)[1],
                           self.source.secret)

    def study_uid(self, reference: str) -> str | None:
        resource = self.by_reference.get(reference)
        return _study_uid(resource.body) if resource else None


def _code(concept: Any) -> str:
    codings = (concept or {}).get("coding") or []
    return str(codings[0].get("code", "")) if codings else ""


def _study_uid(body: dict[str, Any]) -> str | None:
    for identifier in body.get("identifier") or []:
        if identifier.get("system") == DICOM_UID_SYSTEM and identifier.get("value"):
            return str(identifier["value"]).removeprefix("urn:oid:")
    return None


def _ref(value: Any) -> str:
    return str((value or {}).get("reference", ""))


def fhir_records(
    items: Iterable[Resource | Rejected], source: FhirSource, studies_of: StudiesOf
) -> Iterator[Record]:
    resources: list[Resource] = []
    for item in items:
        if isinstance(item, Rejected):
            yield item
        else:
            resources.append(item)
    context = _Context(resources, source)
    unused: Counter[str] = Counter()
    for resource in resources:
        if resource.type not in SUPPORTED:
            unused[resource.type] += 1  # a Bulk export holds many kinds: skipped, counted
            continue
        if resource.type == "Endpoint":
            continue  # read through the studies that reference it
        if resource.type == "Patient" and _merged_into_safely(resource):
            yield Commit(lambda: None)  # a merge reads the store: write what came before
        yield Pending(resource.location, _transform(resource, context, studies_of))
    if unused:
        yield Bundle((), "input", tuple(
            Notice("input", f"{count:,} {kind or '(no type)'} resource{'s' if count > 1 else ''}"
                   " not used by the engine: skipped") for kind, count in sorted(unused.items())))


def _transform(resource: Resource, context: _Context,
               studies_of: StudiesOf) -> Callable[[], list[Node | Edge]]:
    def build() -> list[Node | Edge]:
        try:
            return TRANSFORMS[resource.type](resource, context, studies_of)
        except UserError as exc:
            raise FhirError(f"{resource.type}: {exc}") from None
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise FhirError(f"{resource.type}: a field has an unexpected shape "
                            f"({type(exc).__name__})") from None
    return build


def _merged_into_safely(resource: Resource) -> str | None:
    try:
        return _merged_into(resource)
    except (AttributeError, TypeError):
        return None  # a malformed link: the transform reports it


def _prov(context: _Context, when: Any = None) -> Provenance:
    return Provenance(context.source.connector, str(when) if when else utc_now(),
                      Confidence.OBSERVED)


def _imaging_study(resource: Resource, context: _Context, _: StudiesOf) -> list[Node | Edge]:
    body = resource.body
    uid = _study_uid(body)
    if uid is None:
        raise FhirError("no identifier with system urn:dicom:uid")
    if body.get("status") in ("cancelled", "entered-in-error"):
        raise FhirError(f"status {body['status']}: no study to record")
    prov = _prov(context)
    study = make_key(NodeKind.STUDY, uid)
    started = str(body.get("started") or "")[:10] or None
    modalities = sorted({str(m.get("code")) for m in body.get("modality") or [] if m.get("code")})
    facts: list[Node | Edge] = [Node(study, prov, {"study_date": started,
                                                    "modalities": modalities or None})]
    if body.get("subject"):
        patient = context.patient(_ref(body["subject"]))
        facts += [Node(patient, prov), Edge(study, EdgeType.OF_PATIENT, patient, prov)]
    endpoints = [context.by_reference.get(_ref(e)) for e in body.get("endpoint") or []]
    address = next((e.body.get("address") for e in endpoints if e and e.body.get("address")), None)
    system = make_key(NodeKind.SYSTEM, context.source.system)
    for series in body.get("series") or []:
        series_key = make_key(NodeKind.SERIES, str(series["uid"]))
        count = series.get("numberOfInstances") or len(series.get("instance") or []) or None
        copy = object_key(context.source.system, str(series["uid"]))
        facts += [Node(series_key, prov, {"modality": (series.get("modality") or {}).get("code")}),
                  Edge(series_key, EdgeType.PART_OF, study, prov),
                  Node(copy, prov, {"instance_count": count, "uri": address}),
                  Edge(copy, EdgeType.COPY_OF, series_key, prov),
                  Edge(copy, EdgeType.STORED_IN, system, prov)]
    for identifier in body.get("identifier") or []:
        if _code(identifier.get("type")) == "ACSN" and identifier.get("value"):
            system_uri = str(identifier.get("system") or "")
            issuer = context.source.issuers.get(system_uri) or system_uri or "UNKNOWN"
            order = make_key(NodeKind.ORDER, f"{issuer}/{identifier['value']}")
            facts += [Node(order, prov, {"accession": identifier["value"]}),
                      Edge(order, EdgeType.FULFILLED_BY, study, prov)]
    return facts


def _diagnostic_report(resource: Resource, context: _Context, _: StudiesOf) -> list[Node | Edge]:
    body = resource.body
    prov = _prov(context, body.get("issued"))
    report = make_key(NodeKind.REPORT, f"{context.source.system}/{body.get('id')}")
    facts: list[Node | Edge] = [Node(report, prov, {"status": body.get("status")})]
    for reference in body.get("imagingStudy") or []:
        uid = context.study_uid(_ref(reference))
        if uid is None:
            raise FhirError(f"imagingStudy {_ref(reference)!r} is not in the input")
        facts.append(Edge(report, EdgeType.DESCRIBES, make_key(NodeKind.STUDY, uid), prov))
    return facts


def _merged_into(resource: Resource) -> str | None:
    for link in resource.body.get("link") or []:
        if link.get("type") == "replaced-by":
            return _ref(link.get("other"))
    return None


def _patient(resource: Resource, context: _Context, studies_of: StudiesOf) -> list[Node | Edge]:
    body = resource.body
    prov = _prov(context, (body.get("meta") or {}).get("lastUpdated"))
    key = context.patient(resource.reference)
    birth = str(body.get("birthDate") or "")
    props: dict[str, Any] = {"birth_year_month": birth[:7] if len(birth) >= 7 else None}
    if body.get("deceasedDateTime"):
        props |= {"death_date": str(body["deceasedDateTime"])[:10], "deceased": True}
    elif body.get("deceasedBoolean") is True:
        props["deceased"] = True
    facts: list[Node | Edge] = [Node(key, prov, props)]
    survivor = _merged_into(resource)
    if survivor:
        facts += merge_patients(key, context.patient(survivor), prov, studies_of)
    return facts


def _provenance(resource: Resource, context: _Context, _: StudiesOf) -> list[Node | Edge]:
    body = resource.body
    prov = _prov(context, body.get("recorded"))
    facts: list[Node | Edge] = []
    for target in body.get("target") or []:
        derived = context.study_uid(_ref(target))
        if derived is None:
            continue
        for entity in body.get("entity") or []:
            source_uid = context.study_uid(_ref(entity.get("what")))
            if source_uid is None:
                raise FhirError(f"entity {_ref(entity.get('what'))!r} is not an ImagingStudy "
                                "of the input")
            facts.append(Edge(make_key(NodeKind.STUDY, derived), EdgeType.DERIVED_FROM,
                              make_key(NodeKind.STUDY, source_uid), prov,
                              {"kind": entity.get("role"), "at": body.get("recorded")}))
    if not facts:
        raise FhirError("no ImagingStudy target with an ImagingStudy entity")
    return facts


def _audit_event(resource: Resource, context: _Context, _: StudiesOf) -> list[Node | Edge]:
    body = resource.body
    event = balp_event(body)
    if event is not None and context.source.audit is not None:
        return list(context.source.audit.facts(event).items)  # a copy or a deletion (BALP)
    prov = _prov(context, body.get("recorded"))
    who = sorted({str((a.get("who") or {}).get("display") or (a.get("who") or {}).get(
        "reference") or "") for a in body.get("agent") or []} - {""})
    facts: list[Node | Edge] = []
    for entity in body.get("entity") or []:
        identifier = (entity.get("what") or {}).get("identifier") or {}
        if identifier.get("system") == DICOM_UID_SYSTEM and identifier.get("value"):
            study = make_key(NodeKind.STUDY, str(identifier["value"]).removeprefix("urn:oid:"))
            facts.append(Node(study, prov, {"accessed_by": who or None,
                                            "last_accessed_at": body.get("recorded")}))
    if not facts:
        raise FhirError("no entity identifying a study (urn:dicom:uid)")
    return facts


TRANSFORMS = {"ImagingStudy": _imaging_study, "DiagnosticReport": _diagnostic_report,
              "Patient": _patient, "Provenance": _provenance, "AuditEvent": _audit_event}


class FhirConfig(FileInputs):
    system: SystemCode
    # FHIR identifier system -> the patient-ID namespace HL7 and DICOM use
    issuers: dict[str, str] = Field(default_factory=dict)


def _source_records(config: FhirConfig, context: SourceContext) -> Iterator[Record]:
    audit = AtnaSource(SystemMap.load(None, context.store), context.store)
    source = FhirSource(config.system, context.secret, config.issuers, audit)
    return fhir_records(resources_of(config.texts()), source, current_studies(context.store))


SOURCE = Source(
    kind="fhir", summary="FHIR R4 resources, Bundles and Bulk Data ndjson",
    config_class=FhirConfig, records=_source_records, label=lambda c: f"fhir:{c.system}")
