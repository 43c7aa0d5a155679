"""Estate declarations: what events cannot show, declared in a YAML file.

Systems (code, kind, region, vendor, status), FEEDS between systems, datasets and what they
include, access profiles and what they grant, and compliance events (legal holds, audits,
investigations, erasure requests) with their scope and dates. The file is validated whole before
anything is written; an error names the file and the field (`systems[2].status: ...`).

Patients in a compliance scope are given as `{issuer, id}` and pseudonymized on the way in (or as
`patient:<pseudonym>` keys); identifiers in clear never reach the graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from lineage.errors import EstateError, UserError
from lineage.identity import patient_key
from lineage.model import (
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    kind_of,
    make_key,
    system_key,
)
from lineage.pipeline import Bundle
from lineage.sources import Source, SourceConfig, SourceContext, SystemCode
from lineage.timefmt import to_timestamp, utc_now
from lineage.yaml_files import StrictModel, parse_yaml_model

Code = SystemCode
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$")]
When = date | datetime


class SystemKind(StrEnum):
    MODALITY = "modality"
    PACS = "pacs"
    VNA = "vna"
    EHR = "ehr"
    RIS = "ris"
    OBJECT_STORE = "object_store"
    AI_PIPELINE = "ai_pipeline"
    RESEARCH_ARCHIVE = "research_archive"
    FILE_SHARE = "file_share"
    BACKUP = "backup"


AeTitle = Annotated[str, StringConstraints(pattern=r"^[ -\[\]-~]{1,16}$", strip_whitespace=True)]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:_-]{1,253}$")]


class SystemDecl(StrictModel):
    code: Code
    kind: SystemKind
    region_code: str = Field(min_length=1)
    vendor: str | None = None
    name: str | None = None
    status: Literal["active", "decommissioning", "retired"] = "active"
    # how the system appears in DICOM audit messages (ATNA) and associations
    ae_titles: list[AeTitle] | None = None
    hosts: list[HostName] | None = None


class FeedDecl(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Code = Field(alias="from")
    target: Code = Field(alias="to")
    since: When | None = None
    until: When | None = None
    via: str | None = None


class DatasetDecl(StrictModel):
    id: Identifier
    name: str | None = None
    purpose: str | None = None
    owner: str | None = None
    includes: list[str] = Field(default_factory=list)


class GrantDecl(StrictModel):
    system: Code | None = None
    dataset: Identifier | None = None
    actions: list[Literal["view", "change", "export", "delete"]] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_target(self) -> GrantDecl:
        if (self.system is None) == (self.dataset is None):
            raise ValueError("a grant names exactly one of system or dataset")
        return self


class AccessProfileDecl(StrictModel):
    id: Identifier
    role: str = Field(min_length=1)
    description: str | None = None
    grants: list[GrantDecl] = Field(min_length=1)


class PatientRef(StrictModel):
    issuer: str = Field(min_length=1)
    id: str = Field(min_length=1)


class ScopeDecl(StrictModel):
    patients: list[PatientRef | str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list)
    datasets: list[Identifier] = Field(default_factory=list)
    systems: list[Code] = Field(default_factory=list)


class ComplianceEventDecl(StrictModel):
    id: Identifier
    type: Literal["legal_hold", "audit", "investigation", "erasure_request"]
    started_at: When
    ended_at: When | None = None
    reference: str | None = None
    scope: ScopeDecl

    @model_validator(mode="after")
    def _dates_in_order(self) -> ComplianceEventDecl:
        if self.ended_at is not None and to_timestamp(self.ended_at) < to_timestamp(
            self.started_at
        ):
            raise ValueError("ended_at is before started_at")
        return self


class EstateDecl(StrictModel):
    version: Literal[1] = 1
    systems: list[SystemDecl] = Field(default_factory=list)
    feeds: list[FeedDecl] = Field(default_factory=list)
    datasets: list[DatasetDecl] = Field(default_factory=list)
    access_profiles: list[AccessProfileDecl] = Field(default_factory=list)
    compliance_events: list[ComplianceEventDecl] = Field(default_factory=list)


def load_estate(path: Path) -> EstateDecl:
    """Read and validate an estate file; EstateError names the file and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EstateError(f"{path}: cannot read the estate file ({exc.strerror})") from None
    estate = parse_yaml_model(text, EstateDecl, str(path), EstateError,
                              "an estate file is a mapping with keys such as 'systems'")
    _check_references(path, estate)
    return estate


def _check_references(path: Path, estate: EstateDecl) -> None:
    systems = {s.code for s in estate.systems}
    datasets = {d.id for d in estate.datasets}

    def fail(where: str, message: str) -> NoReturn:
        raise EstateError(f"{path}: {where}: {message}")

    for i, feed in enumerate(estate.feeds):
        for name, code in (("from", feed.source), ("to", feed.target)):
            if code not in systems:
                fail(f"feeds[{i}].{name}", f"system {code!r} is not declared under systems")
    for i, profile in enumerate(estate.access_profiles):
        for j, grant in enumerate(profile.grants):
            if grant.system is not None and grant.system not in systems:
                fail(f"access_profiles[{i}].grants[{j}].system",
                     f"system {grant.system!r} is not declared under systems")
            if grant.dataset is not None and grant.dataset not in datasets:
                fail(f"access_profiles[{i}].grants[{j}].dataset",
                     f"dataset {grant.dataset!r} is not declared under datasets")
    for i, event in enumerate(estate.compliance_events):
        for code in event.scope.systems:
            if code not in systems:
                fail(f"compliance_events[{i}].scope.systems",
                     f"system {code!r} is not declared under systems")
        for j, ref in enumerate(event.scope.patients):
            if isinstance(ref, str) and not _is_key_of(ref, NodeKind.PATIENT):
                fail(f"compliance_events[{i}].scope.patients[{j}]",
                     "give a patient as {issuer, id} or as a patient:<pseudonym> key")
        for j, uid in enumerate(event.scope.studies):
            if not _is_key_of(f"study:{uid}", NodeKind.STUDY):
                fail(f"compliance_events[{i}].scope.studies[{j}]", f"{uid!r} is not a study UID")
        for dataset in event.scope.datasets:
            if dataset not in datasets:
                fail(f"compliance_events[{i}].scope.datasets",
                     f"dataset {dataset!r} is not declared under datasets")
    for i, dataset_decl in enumerate(estate.datasets):
        for j, key in enumerate(dataset_decl.includes):
            if not _is_key_of(key, NodeKind.STUDY, NodeKind.SERIES, NodeKind.ARCHIVE_OBJECT):
                fail(f"datasets[{i}].includes[{j}]",
                     f"{key!r} is not a study:, series: or object: key")


def _is_key_of(key: str, *kinds: NodeKind) -> bool:
    try:
        return kind_of(key) in kinds
    except UserError:
        return False


def estate_records(
    estate: EstateDecl, source: str, secret: bytes, seen_at: str | None = None
) -> Iterator[Bundle]:
    """The nodes and edges an estate declares, one bundle per declaration."""
    prov = Provenance(source, seen_at or utc_now(), Confidence.DECLARED)
    for i, system in enumerate(estate.systems):
        declared = system.model_dump(exclude={"code"}, mode="json")
        yield Bundle((Node(system_key(system.code), prov, declared),), f"systems[{i}]")
    for i, feed in enumerate(estate.feeds):
        validity: dict[str, Any] = {"valid_from": feed.since, "valid_to": feed.until,
                                    "via": feed.via}
        edge = Edge(system_key(feed.source), EdgeType.FEEDS, system_key(feed.target), prov,
                    validity)
        yield Bundle((edge,), f"feeds[{i}]")
    for i, dataset in enumerate(estate.datasets):
        key = make_key(NodeKind.DATASET, dataset.id)
        items: list[Node | Edge] = [
            Node(key, prov, dataset.model_dump(exclude={"id", "includes"}, mode="json"))]
        items += [Edge(key, EdgeType.INCLUDES, target, prov) for target in dataset.includes]
        yield Bundle(tuple(items), f"datasets[{i}]")
    for i, profile in enumerate(estate.access_profiles):
        key = make_key(NodeKind.ACCESS_PROFILE, profile.id)
        props: dict[str, Any] = {"role": profile.role, "description": profile.description}
        items = [Node(key, prov, props)]
        for grant in profile.grants:
            target = (system_key(grant.system) if grant.system is not None
                      else make_key(NodeKind.DATASET, str(grant.dataset)))
            actions: dict[str, Any] = {"actions": list(grant.actions)}
            items.append(Edge(key, EdgeType.GRANTS, target, prov, actions))
        yield Bundle(tuple(items), f"access_profiles[{i}]")
    for i, event in enumerate(estate.compliance_events):
        yield Bundle(tuple(_event_items(event, prov, secret)), f"compliance_events[{i}]")


def _event_items(event: ComplianceEventDecl, prov: Provenance, secret: bytes) -> list[Node | Edge]:
    key = make_key(NodeKind.COMPLIANCE_EVENT, event.id)
    props: dict[str, Any] = {"event_type": event.type, "started_at": event.started_at,
                             "ended_at": event.ended_at, "reference": event.reference}
    targets = [_patient(p, secret) for p in event.scope.patients]
    targets += [make_key(NodeKind.STUDY, uid) for uid in event.scope.studies]
    targets += [make_key(NodeKind.DATASET, d) for d in event.scope.datasets]
    targets += [system_key(code) for code in event.scope.systems]
    return [Node(key, prov, props),
            *(Edge(key, EdgeType.APPLIES_TO, target, prov) for target in targets)]


def _patient(ref: PatientRef | str, secret: bytes) -> str:
    """A pseudonymous patient key (string references were checked by load_estate)."""
    return patient_key(ref.issuer, ref.id, secret) if isinstance(ref, PatientRef) else ref


class EstateConfig(SourceConfig):
    file: Path


def _source_records(config: EstateConfig, context: SourceContext) -> Iterator[Bundle]:
    """The whole file is validated here, before any record is written."""
    estate = load_estate(config.file)
    return estate_records(estate, f"estate:{config.file.name}", context.secret)


SOURCE = Source(
    kind="estate", summary="Systems, feeds, datasets, access and compliance events (YAML)",
    config_class=EstateConfig, records=_source_records, label=lambda c: f"estate:{c.file.name}")
