"""The graph model: node kinds, edge types, keys and provenance (see shared design, "Graph model").

Everything that enters a store passes through `Node` or `Edge`, whose constructors validate:
- the key grammar `<prefix>:<natural id>`, the prefix naming the kind (`study:1.2.3`);
- edge types and their endpoint kinds against the allow-list `EDGE_ENDPOINTS`;
- property names (lower snake case, none reserved for provenance, none that would carry PHI) and
  values (str, int, float, bool, or a flat list of one of those; None means "not reported");
- times and dates, normalised to the stored string forms of `lineage.timefmt`.

Labels and relationship types used in Cypher come only from `NodeKind` and `EdgeType`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeAlias

from lineage.errors import InvalidKeyError, InvalidRecordError
from lineage.timefmt import to_date, to_timestamp

Scalar: TypeAlias = str | int | float | bool
Value: TypeAlias = Scalar | list[str] | list[int] | list[float] | list[bool]
Properties: TypeAlias = dict[str, Value]


class NodeKind(StrEnum):
    """Node labels, exactly as they appear in Neo4j."""

    SYSTEM = "System"
    PATIENT = "Patient"
    STUDY = "Study"
    SERIES = "Series"
    ARCHIVE_OBJECT = "ArchiveObject"
    DATASET = "Dataset"
    RETENTION_POLICY = "RetentionPolicy"
    COMPLIANCE_EVENT = "ComplianceEvent"
    ACCESS_PROFILE = "AccessProfile"
    ORDER = "Order"
    REPORT = "Report"
    JOB = "Job"
    RUN = "Run"


KEY_PREFIX: dict[NodeKind, str] = {
    NodeKind.SYSTEM: "system",
    NodeKind.PATIENT: "patient",
    NodeKind.STUDY: "study",
    NodeKind.SERIES: "series",
    NodeKind.ARCHIVE_OBJECT: "object",
    NodeKind.DATASET: "dataset",
    NodeKind.RETENTION_POLICY: "policy",
    NodeKind.COMPLIANCE_EVENT: "event",
    NodeKind.ACCESS_PROFILE: "profile",
    NodeKind.ORDER: "order",
    NodeKind.REPORT: "report",
    NodeKind.JOB: "job",
    NodeKind.RUN: "run",
}
KIND_BY_PREFIX: dict[str, NodeKind] = {prefix: kind for kind, prefix in KEY_PREFIX.items()}


class EdgeType(StrEnum):
    """Relationship types, exactly as they appear in Neo4j."""

    PART_OF = "PART_OF"
    OF_PATIENT = "OF_PATIENT"
    COPY_OF = "COPY_OF"
    STORED_IN = "STORED_IN"
    COPIED_FROM = "COPIED_FROM"
    DERIVED_FROM = "DERIVED_FROM"
    FEEDS = "FEEDS"
    INCLUDES = "INCLUDES"
    READ = "READ"
    WROTE = "WROTE"
    GOVERNED_BY = "GOVERNED_BY"
    APPLIES_TO = "APPLIES_TO"
    GRANTS = "GRANTS"
    FULFILLED_BY = "FULFILLED_BY"
    DESCRIBES = "DESCRIBES"
    RUN_OF = "RUN_OF"


def _pairs(sources: set[NodeKind], targets: set[NodeKind]) -> frozenset[tuple[NodeKind, NodeKind]]:
    return frozenset((s, t) for s in sources for t in targets)


K = NodeKind
EDGE_ENDPOINTS: dict[EdgeType, frozenset[tuple[NodeKind, NodeKind]]] = {
    EdgeType.PART_OF: _pairs({K.SERIES}, {K.STUDY}),
    EdgeType.OF_PATIENT: _pairs({K.STUDY}, {K.PATIENT}),
    EdgeType.COPY_OF: _pairs({K.ARCHIVE_OBJECT}, {K.STUDY, K.SERIES}),
    EdgeType.STORED_IN: _pairs({K.ARCHIVE_OBJECT}, {K.SYSTEM}),
    EdgeType.COPIED_FROM: _pairs({K.ARCHIVE_OBJECT}, {K.ARCHIVE_OBJECT}),
    EdgeType.DERIVED_FROM: frozenset({(K.SERIES, K.SERIES), (K.STUDY, K.STUDY)}),
    EdgeType.FEEDS: _pairs({K.SYSTEM}, {K.SYSTEM}),
    EdgeType.INCLUDES: _pairs({K.DATASET}, {K.STUDY, K.SERIES, K.ARCHIVE_OBJECT}),
    # a job's READ/WROTE are declared lineage (OpenLineage JobEvent); a run's, observed
    EdgeType.READ: _pairs({K.RUN, K.JOB}, {K.DATASET, K.SERIES, K.ARCHIVE_OBJECT}),
    EdgeType.WROTE: _pairs({K.RUN, K.JOB}, {K.DATASET, K.SERIES, K.ARCHIVE_OBJECT}),
    EdgeType.RUN_OF: _pairs({K.RUN}, {K.JOB}),
    EdgeType.GOVERNED_BY: _pairs({K.ARCHIVE_OBJECT}, {K.RETENTION_POLICY}),
    EdgeType.APPLIES_TO: _pairs({K.COMPLIANCE_EVENT}, {K.PATIENT, K.STUDY, K.DATASET, K.SYSTEM}),
    EdgeType.GRANTS: _pairs({K.ACCESS_PROFILE}, {K.SYSTEM, K.DATASET}),
    EdgeType.FULFILLED_BY: _pairs({K.ORDER}, {K.STUDY}),
    EdgeType.DESCRIBES: _pairs({K.REPORT}, {K.STUDY}),
}
del K


class Confidence(StrEnum):
    """How a fact is known; a stronger report upgrades a weaker one."""

    INFERRED = "inferred"
    DECLARED = "declared"
    OBSERVED = "observed"

    @property
    def rank(self) -> int:
        return list(Confidence).index(self)


# Provenance and bookkeeping fields that the stores own; no record may set them as properties.
# `label` is the node kind in the NetworkX view and in exports.
DERIVED_CLOCK = "derived_at"  # when the engine last computed an element's derived values
PROVENANCE_FIELDS = frozenset(
    {"key", "label", "source", "sources", "first_seen", "last_seen", "confidence",
     "unresolved", "property_sources", DERIVED_CLOCK}
)
# Names that would put patient identity in clear into the graph.
PHI_PROPERTY_NAMES = frozenset(
    {"patient_name", "patient_id", "patient_birth_date", "birth_date", "date_of_birth", "dob",
     "mrn", "ssn", "nhs_number", "address", "phone", "other_patient_ids"}
)
TIME_PROPERTIES = frozenset(
    {"valid_from", "valid_to", "created_at", "disposed_at", "started_at", "ended_at", "at",
     "rejected_at", "merged_at", "last_accessed_at"}
)
DATE_PROPERTIES = frozenset({"study_date", "retain_until", "death_date", "last_encounter"})

# What the engine derives from the graph itself and rewrites as the estate changes: a copy's
# retention, its over-retained tally and its holding facts, a study's origin and facts. They are
# mutable, and ordered by the engine's own clock (DERIVED_CLOCK: when the computation that wrote
# them started), never by the sources' observation times: a source whose clock runs ahead cannot
# freeze them, and writing them does not date the element's last sighting (`last_seen`).
DERIVED_PROPERTIES: dict[NodeKind, frozenset[str]] = {
    NodeKind.ARCHIVE_OBJECT: frozenset(
        {"retain_until", "retention_policy_id", "retention_status", "retention_reason",
         "retention_policy_version", "jurisdictions", "country",
         "retention_group", "retention_bytes", "retention_created",
         "holding_system", "holding_item", "holding_others", "holding_exact_from",
         "holding_gap", "holding_tier", "holding_bytes",
         "holding_created_at", "holding_disposed_at"}
    ),
    NodeKind.STUDY: frozenset({"origin_jurisdiction", "retention_rule_count", "obligation_count",
                               "foreign_country_count", "facts_policy_version",
                               "facts_exact_from", "live_rule_count", "live_conflict",
                               "live_foreign_copies"}),
}
# Properties that describe a state that legitimately changes: the newest report wins and no
# conflict is recorded. Any other property reported differently by another source is a conflict.
MUTABLE_PROPERTIES: dict[NodeKind, frozenset[str]] = {
    NodeKind.SYSTEM: frozenset({"status"}),
    NodeKind.ARCHIVE_OBJECT: DERIVED_PROPERTIES[NodeKind.ARCHIVE_OBJECT] | {
        "disposed_at", "storage_tier", "instance_count", "bytes", "manifest_hash",
        "rejected_at", "rejection_code", "rejection_reason", "rejected_instance_count",
        "lossy_instance_count", "image_type"},
    NodeKind.STUDY: DERIVED_PROPERTIES[NodeKind.STUDY] | {"last_accessed_at"},
    NodeKind.RUN: frozenset({"state", "ended_at"}),
    NodeKind.COMPLIANCE_EVENT: frozenset({"ended_at", "status"}),
}
EDGE_MUTABLE_PROPERTIES = frozenset({"valid_to"})
# List properties that are the union of what every source reports (each system sees part of a
# study: the PACS holds the SEG, the VNA only the CT).
UNION_PROPERTIES = frozenset({"modalities", "accessed_by"})

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_PSEUDONYM = re.compile(r"^[0-9a-f]{64}\Z")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_MAX_KEY_LENGTH = 2048


def parse_key(key: str) -> tuple[NodeKind, str]:
    """Split a key into its kind and natural id, or raise InvalidKeyError saying why."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"a key must be a string, got {type(key).__name__}")
    if type(key) is str and len(key) <= _REMEMBERED_KEY_LENGTH:  # not a subclass's own ==
        return _parse_recent_key(key)
    return _parse_text_key(key)


def _parse_text_key(key: str) -> tuple[NodeKind, str]:
    prefix, sep, natural_id = key.partition(":")
    kind = KIND_BY_PREFIX.get(prefix)
    if not sep or kind is None:
        known = ", ".join(sorted(KIND_BY_PREFIX))
        raise InvalidKeyError(f"key {key!r} must start with one of {known} and a colon")
    if not natural_id or natural_id != natural_id.strip():
        raise InvalidKeyError(f"key {key!r} has an empty natural id or one padded with spaces")
    if len(key) > _MAX_KEY_LENGTH or _CONTROL_CHARACTER.search(natural_id):
        raise InvalidKeyError(f"key {key[:80]!r} is too long or holds control characters")
    if kind is NodeKind.SYSTEM:
        _check_code(natural_id, key)
    elif kind is NodeKind.ARCHIVE_OBJECT:
        system_code, sep, native_id = natural_id.partition(":")
        if not sep or not native_id:
            raise InvalidKeyError(f"key {key!r} must be object:<system_code>:<native id or path>")
        _check_code(system_code, key)
    elif kind is NodeKind.PATIENT and not _PSEUDONYM.match(natural_id):
        raise InvalidKeyError(
            f"key {key[:24]}... is not a pseudonym: patient keys are 64 hex digits made by "
            "lineage.identity.pseudonymize, never a patient ID in clear"
        )
    return kind, natural_id


# The keys of a source's records repeat (a study named by every edge of its copies, a system by
# every copy it holds): a valid key is checked once while it is among the recent ones. An
# invalid one raises, and is never remembered; long ones are not remembered (memory is bounded
# by the count and length, about 40 MB at most).
_parse_recent_key = functools.lru_cache(maxsize=1 << 16)(_parse_text_key)
_REMEMBERED_KEY_LENGTH = 256


def _check_code(code: str, key: str) -> None:
    if not _CODE.match(code):
        raise InvalidKeyError(
            f"key {key!r}: system code {code!r} must be letters, digits, '.', '_' or '-'"
        )


# DICOM UIDs as the sources carry them: digits and dots, at most 64 characters (PS3.5 9.1)
DICOM_UID = re.compile(r"^[0-9]+(\.[0-9]+)*\Z")
STUDY_UID_CODE = "110180"  # DCM "Study Instance UID", in HL7 OBX and in audit messages
DICOM_UID_SYSTEM = "urn:dicom:uid"  # the FHIR identifier system of DICOM UIDs


def is_dicom_uid(text: str) -> bool:
    return len(text) <= 64 and DICOM_UID.match(text) is not None


def make_key(kind: NodeKind, natural_id: str) -> str:
    """Build and validate the key of a node of `kind`."""
    key = f"{KEY_PREFIX[kind]}:{natural_id}"
    parse_key(key)
    return key


def system_key(code: str) -> str:
    return make_key(NodeKind.SYSTEM, code)


def object_key(system_code: str, native_id: str) -> str:
    return make_key(NodeKind.ARCHIVE_OBJECT, f"{system_code}:{native_id}")


def kind_of(key: str) -> NodeKind:
    return parse_key(key)[0]


def kind_of_valid(key: str) -> NodeKind:
    """The kind of a key already validated (a Node's or an Edge's): its prefix, not re-parsed."""
    return KIND_BY_PREFIX[key.partition(":")[0]]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who reported a fact, when, and how sure it is."""

    source: str
    seen_at: str
    confidence: Confidence = Confidence.OBSERVED

    def __post_init__(self) -> None:
        if not self.source or not self.source.strip():
            raise InvalidRecordError("provenance needs a non-empty source")
        object.__setattr__(self, "seen_at", _normalise_time("seen_at", self.seen_at))
        if type(self.confidence) is not Confidence:
            object.__setattr__(self, "confidence", Confidence(self.confidence))


@dataclass(frozen=True, slots=True, init=False)
class Node:
    """One node to upsert. `location` says where the record came from (file, line); not stored.

    Properties are validated and normalised on construction (see `clean_properties`)."""

    key: str
    provenance: Provenance
    properties: Properties
    location: str = field(compare=False)
    removed: frozenset[str] = frozenset()

    def __init__(self, key: str, provenance: Provenance,
                 properties: Mapping[str, Any] | None = None, location: str = "",
                 removed: frozenset[str] | set[str] = frozenset()):
        """`removed`: properties this report says no longer hold (a recomputed retention that
        is now unknown); honoured like an update (mutable properties or the source's own)."""
        parse_key(key)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "provenance", provenance)
        object.__setattr__(self, "properties", clean_properties(properties or {}, key))
        object.__setattr__(self, "location", location)
        object.__setattr__(self, "removed", frozenset(removed) - set(self.properties))

    @property
    def kind(self) -> NodeKind:
        return kind_of_valid(self.key)


@dataclass(frozen=True, slots=True, init=False)
class Edge:
    """One edge to upsert; at most one edge of a type joins two nodes."""

    src: str
    type: EdgeType
    dst: str
    provenance: Provenance
    properties: Properties
    location: str = field(compare=False)

    def __init__(self, src: str, type: EdgeType | str, dst: str, provenance: Provenance,
                 properties: Mapping[str, Any] | None = None, location: str = ""):
        try:
            edge_type = type if type.__class__ is EdgeType else EdgeType(type)
        except ValueError:
            raise InvalidRecordError(f"unknown edge type {type!r}") from None
        pair = (kind_of(src), kind_of(dst))
        if pair not in EDGE_ENDPOINTS[edge_type]:
            allowed = sorted(f"{s}->{t}" for s, t in EDGE_ENDPOINTS[edge_type])
            raise InvalidRecordError(
                f"edge {src} -[{edge_type}]-> {dst}: {pair[0]}->{pair[1]} is not "
                f"allowed for {edge_type} (allowed: {', '.join(allowed)})"
            )
        object.__setattr__(self, "src", src)
        object.__setattr__(self, "type", edge_type)
        object.__setattr__(self, "dst", dst)
        object.__setattr__(self, "provenance", provenance)
        object.__setattr__(self, "properties", clean_properties(
            properties, edge_id(src, edge_type, dst)) if properties else {})
        object.__setattr__(self, "location", location)

    @property
    def id(self) -> str:
        return edge_id(self.src, self.type, self.dst)


def edge_id(src: str, edge_type: str, dst: str) -> str:
    """The public identity of an edge, used in conflict records and messages."""
    return f"{src} -[{edge_type}]-> {dst}"


def clean_properties(properties: Mapping[str, Any], owner: str) -> Properties:
    """Validate names and values, drop None, normalise times and dates; errors name the owner."""
    if not isinstance(properties, Mapping):
        raise InvalidRecordError(f"{owner}: properties must be a mapping")
    cleaned: Properties = {}
    for name, value in properties.items():
        if name not in _ALLOWED_NAMES:
            _check_property_name(owner, name)
        if value is None:
            continue
        cleaned[name] = _clean_value(owner, name, value)
    return cleaned


# The names a property may have, as seen so far (a few dozen recur): checked once each. Bounded,
# so that a source inventing names cannot grow it without end (the others are checked each time).
_ALLOWED_NAMES: set[str] = set()
_MAX_ALLOWED_NAMES = 4096


def _check_property_name(owner: str, name: object) -> None:
    if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
        raise InvalidRecordError(f"{owner}: property name {name!r} must be lower snake case")
    if name in PROVENANCE_FIELDS:
        raise InvalidRecordError(f"{owner}: property {name!r} is reserved for provenance")
    if name in PHI_PROPERTY_NAMES:
        raise InvalidRecordError(
            f"{owner}: property {name!r} would put patient identity in the graph; "
            "pseudonymize it (lineage.identity) or leave it out"
        )
    if type(name) is str and len(_ALLOWED_NAMES) < _MAX_ALLOWED_NAMES:
        _ALLOWED_NAMES.add(name)


def _clean_value(owner: str, name: str, value: Any) -> Value:
    if name in TIME_PROPERTIES:
        return _normalise_time(name, value, owner)
    if name in DATE_PROPERTIES:
        # The value is never repeated in an error: a wrong date may be a patient's.
        if not isinstance(value, date | str):
            raise InvalidRecordError(f"{owner}: {name} must be a date, got a "
                                     f"{type(value).__name__}")
        try:
            return to_date(value)
        except ValueError:
            raise InvalidRecordError(f"{owner}: {name} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, list | tuple):
        items = [_clean_scalar(owner, name, item) for item in value]
        if len({type(item) for item in items}) > 1:
            raise InvalidRecordError(f"{owner}: {name} mixes value types in one list")
        return items  # type: ignore[return-value]
    return _clean_scalar(owner, name, value)


def _clean_scalar(owner: str, name: str, value: Any) -> Scalar:
    kind = type(value)  # most values: nothing to normalise (ASCII text is valid Unicode)
    if (kind is str and value.isascii()) or kind is int or kind is bool:
        return value  # type: ignore[no-any-return]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRecordError(f"{owner}: {name} is not a finite number")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRecordError(f"{owner}: {name} is not valid Unicode text") from None
        return value
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise InvalidRecordError(
        f"{owner}: {name} has a value of type {type(value).__name__}; "
        "values are text, numbers, booleans or flat lists of one of those"
    )


def _normalise_time(name: str, value: Any, owner: str = "") -> str:
    """`value` as a stored timestamp; errors name `owner` and `name`, never the value."""
    try:
        if isinstance(value, datetime | date | str):
            return to_timestamp(value)
        wrong = f"must be a time, got a {type(value).__name__}"
    except ValueError:
        wrong = "is not an ISO-8601 date or time"
    raise InvalidRecordError(f"{owner}: {name} {wrong}" if owner else f"{name} {wrong}")
