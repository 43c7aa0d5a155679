"""DICOM headers → graph records: pure transforms, shared by the file, Orthanc and DICOMweb paths.

One stored copy of a series in one system is `object:<system>:<series id>`; its instance count,
manifest hash (SHA-256 over the sorted "SOPInstanceUID transfer-syntax" lines), bytes and
lossy-instance count describe the instances seen for it in one scan. A SOP Instance UID does not
identify a copy: a lossless transcode keeps it, so the manifest includes the transfer syntax.

De-identified copies that kept the original UIDs (DICOM code 113110, Retain UIDs) must not merge
with their originals: their series and study get the id `<uid>#deid:<namespace>` and a
DERIVED_FROM edge (kind `deidentification`) to the original. Copies with new UIDs are linked to
the originals when a UID map (new UID → original UID) is given.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.dicom_header import RETENTION_EXPIRED, DicomHeader, Reference, Rejection
from lineage.identity import patient_key
from lineage.model import (
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    make_key,
    object_key,
    system_key,
)
from lineage.pipeline import Bundle, Notice

MINOR_AGE = 18


@dataclass(frozen=True, slots=True)
class DicomSource:
    """Where the headers come from, and how to name what they describe."""

    system: str
    secret: bytes
    region: str | None = None
    patient_issuer: str | None = None  # when IssuerOfPatientID is absent; default: the system
    deid_namespace: str | None = None  # for Retain-UIDs copies; default: the system
    uid_map: Mapping[str, str] = field(default_factory=dict)  # new UID -> original UID

    def connector(self, kind: str) -> str:
        return f"{kind}:{self.system}"


@dataclass(slots=True)
class SeenInstance:
    """One instance of a copy, as a scan saw it."""

    header: DicomHeader
    location: str
    size: int | None = None
    stored_at: str | None = None
    native_id: str | None = None


def series_id(header: DicomHeader, source: DicomSource) -> str:
    """The natural id of a header's series: its UID, or a de-identified variant of it."""
    if header.deidentified and header.retain_uids:
        return f"{header.series_uid}#deid:{source.deid_namespace or source.system}"
    return header.series_uid


def study_id(header: DicomHeader, source: DicomSource) -> str:
    if header.deidentified and header.retain_uids:
        return f"{header.study_uid}#deid:{source.deid_namespace or source.system}"
    return header.study_uid


def series_key_of(header: DicomHeader, source: DicomSource) -> str:
    return make_key(NodeKind.SERIES, series_id(header, source))


def copy_key(system: str, series_natural_id: str) -> str:
    return object_key(system, series_natural_id)


def group_by_series(
    seen: Iterable[SeenInstance], source: DicomSource
) -> dict[str, list[SeenInstance]]:
    groups: dict[str, list[SeenInstance]] = defaultdict(list)
    for instance in seen:
        groups[series_key_of(instance.header, source)].append(instance)
    return groups


def waiter(derived_series: str, reference: Reference) -> str:
    """How a derived series waits in the instance index for a source instance."""
    return f"{derived_series}|{reference.kind}|{reference.code}"


def derivation_from_waiter(text: str, source_series: str, prov: Provenance) -> Edge | None:
    derived, kind, code = text.split("|", 2)
    if derived == source_series:
        return None
    return Edge(derived, EdgeType.DERIVED_FROM, source_series, prov, {"kind": kind, "code": code})


def copy_bundle(
    series_key: str,
    instances: list[SeenInstance],
    source: DicomSource,
    prov: Provenance,
    resolved: Mapping[str, str],
    study_modalities: Mapping[str, list[str]],
) -> Bundle:
    """The records of one series copy: patient, study, series, copy, and their edges.

    `resolved` maps referenced SOP instance UIDs to the series key that holds them.
    """
    first = instances[0].header
    study_key = make_key(NodeKind.STUDY, study_id(first, source))
    items: list[Node | Edge] = []
    items += _patient_and_study(first, study_key, source, prov, study_modalities)
    items += _series(series_key, study_key, instances, prov)
    items += _copy(series_key, instances, source, prov)
    items += _derivations(series_key, study_key, instances, source, prov, resolved)
    location = (instances[0].location if len(instances) == 1
                else f"{series_key} ({len(instances)} files)")
    return Bundle(tuple(items), location, _notices(instances))


def _notices(instances: list[SeenInstance]) -> tuple[Notice, ...]:
    """Each distinct warning once per copy: on its file, or on the first file with a count;
    and instances stored in several transfer syntaxes (counted once in `instance_count`)."""
    where: dict[str, list[str]] = {}
    for instance in instances:
        for warning in instance.header.warnings:
            where.setdefault(warning, []).append(instance.location)
    syntaxes: dict[str, set[str]] = defaultdict(set)
    for instance in instances:
        syntaxes[instance.header.sop_uid].add(instance.header.transfer_syntax)
    repeated = sum(1 for found in syntaxes.values() if len(found) > 1)
    if repeated:
        where.setdefault(f"{repeated} instance{'s' if repeated > 1 else ''} stored in several "
                         "transfer syntaxes: counted once", []).append(instances[0].location)
    return tuple(Notice(files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} more",
                        warning) for warning, files in where.items())


def _patient_and_study(
    header: DicomHeader, study_key: str, source: DicomSource, prov: Provenance,
    study_modalities: Mapping[str, list[str]],
) -> list[Node | Edge]:
    study: dict[str, Any] = {
        "study_date": header.study_date,
        "accession": header.accession,
        "institution": header.institution,
        "modalities": study_modalities.get(study_key) or None,
        "patient_age_at_study": header.age_at_study,
        "patient_minor_at_study": (header.age_at_study < MINOR_AGE
                                   if header.age_at_study is not None else None),
    }
    items: list[Node | Edge] = [Node(study_key, prov, study)]
    if header.patient_id:
        issuer = header.patient_issuer or source.patient_issuer or source.system
        patient = patient_key(issuer, header.patient_id, source.secret)
        items.append(Node(patient, prov, {"birth_year_month": header.birth_year_month}))
        items.append(Edge(study_key, EdgeType.OF_PATIENT, patient, prov))
    return items


def _series(
    series_key: str, study_key: str, instances: list[SeenInstance], prov: Provenance
) -> list[Node | Edge]:
    first = instances[0].header
    history = sorted({entry for i in instances for entry in i.header.change_history})
    # What is true of the series whichever system holds it; how many of its instances a copy
    # holds, and of which image type, are facts of that copy (`_copy`).
    series: dict[str, Any] = {
        "modality": first.modality,
        "sop_class": first.sop_class,
        "deidentified": first.deidentified or None,
        "deidentification_methods": first.deid_methods or None,
        "change_history": history or None,
    }
    return [Node(series_key, prov, series), Edge(series_key, EdgeType.PART_OF, study_key, prov)]


def manifest_hash(instances: Iterable[SeenInstance]) -> str:
    lines = sorted({f"{i.header.sop_uid} {i.header.transfer_syntax}" for i in instances})
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _copy(
    series_key: str, instances: list[SeenInstance], source: DicomSource, prov: Provenance
) -> list[Node | Edge]:
    key = copy_key(source.system, series_key.split(":", 1)[1])
    sizes = [i.size for i in instances if i.size is not None]
    stored = sorted(i.stored_at for i in instances if i.stored_at)
    tiers = {i.header.availability for i in instances if i.header.availability}
    image_types = {i.header.image_type for i in instances if i.header.image_type}
    copy: dict[str, Any] = {
        "region_code": source.region,
        "instance_count": len({i.header.sop_uid for i in instances}),
        "image_type": image_types.pop() if len(image_types) == 1 else None,
        "manifest_hash": manifest_hash(instances),
        "bytes": sum(sizes) if sizes else None,
        "created_at": stored[0] if stored else None,
        "lossy_instance_count": sum(1 for i in instances if i.header.lossy),
        "storage_tier": tiers.pop().lower() if len(tiers) == 1 else None,
    }
    return [
        Node(key, prov, copy),
        Edge(key, EdgeType.COPY_OF, series_key, prov),
        Edge(key, EdgeType.STORED_IN, system_key(source.system), prov,
             {"valid_from": copy["created_at"]}),
    ]


def _derivations(
    series_key: str, study_key: str, instances: list[SeenInstance], source: DicomSource,
    prov: Provenance, resolved: Mapping[str, str],
) -> list[Node | Edge]:
    """DERIVED_FROM edges of a series (one per source series) and of its study (de-id)."""
    series_edges: dict[str, Edge] = {}
    study_edges: list[Node | Edge] = []

    def derive(source_key: str, kind: str, code: str) -> None:
        if source_key != series_key and source_key not in series_edges:
            series_edges[source_key] = Edge(series_key, EdgeType.DERIVED_FROM, source_key, prov,
                                            {"kind": kind, "code": code})

    for instance in instances:
        for ref in instance.header.references:
            if ref.series_uid:
                derive(make_key(NodeKind.SERIES, ref.series_uid), ref.kind, ref.code)
            elif ref.instance_uid and ref.instance_uid in resolved:
                derive(resolved[ref.instance_uid], ref.kind, ref.code)
    header = instances[0].header
    if header.deidentified:
        code = next(iter(header.deid_methods), "")
        originals: tuple[str | None, str | None]
        if header.retain_uids:
            originals = (header.series_uid, header.study_uid)
        else:
            originals = (source.uid_map.get(header.series_uid),
                         source.uid_map.get(header.study_uid))
        original_series, original_study = originals
        if original_series:
            derive(make_key(NodeKind.SERIES, original_series), "deidentification", code)
        original_study_key = make_key(NodeKind.STUDY, original_study) if original_study else None
        if original_study_key and original_study_key != study_key:
            study_edges.append(Edge(study_key, EdgeType.DERIVED_FROM, original_study_key, prov,
                                    {"kind": "deidentification", "code": code}))
    return [*series_edges.values(), *study_edges]


def rejection_bundle(
    rejection: Rejection, source: DicomSource, prov: Provenance, location: str
) -> Bundle:
    """An IOCM rejection note applied to the copies it names in this system: hidden (rejected),
    or disposed for 113039 (Data Retention Policy Expired). Nothing is deleted."""
    at = rejection.at or prov.seen_at
    items: list[Node | Edge] = []
    for series_uid, instance_count in sorted(rejection.series.items()):
        series = make_key(NodeKind.SERIES, series_uid)
        key = copy_key(source.system, series_uid)
        props: dict[str, Any] = {
            "rejected_at": at, "rejection_code": rejection.code,
            "rejection_reason": rejection.reason,
            "rejected_instance_count": instance_count or None,
            "disposed_at": at if rejection.code == RETENTION_EXPIRED else None,
        }
        items += [Node(key, prov, props), Edge(key, EdgeType.COPY_OF, series, prov),
                  Edge(key, EdgeType.STORED_IN, system_key(source.system), prov)]
    return Bundle(tuple(items), location)


def study_modalities(
    groups: Mapping[str, list[SeenInstance]], source: DicomSource
) -> dict[str, list[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for instances in groups.values():
        header = instances[0].header
        if header.modality:
            found[make_key(NodeKind.STUDY, study_id(header, source))].add(header.modality)
    return {study: sorted(modalities) for study, modalities in found.items()}


def instance_members(groups: Mapping[str, list[SeenInstance]]) -> dict[str, str]:
    """SOP instance UID → series key, for the instance index."""
    return {i.header.sop_uid: series for series, seen in groups.items() for i in seen}


def instance_references(
    groups: Mapping[str, list[SeenInstance]], known: Mapping[str, str]
) -> dict[str, list[str]]:
    """Instance references not resolved by `known`: SOP UID → waiters."""
    waiting: dict[str, list[str]] = defaultdict(list)
    for series, seen in groups.items():
        for instance in seen:
            for ref in instance.header.references:
                if ref.instance_uid and ref.instance_uid not in known:
                    waiting[ref.instance_uid].append(waiter(series, ref))
    return dict(waiting)


def released_edges(released: Mapping[str, list[str]], members: Mapping[str, str],
                   prov: Provenance) -> Iterator[Edge]:
    for sop, waiters in released.items():
        for text in waiters:
            edge = derivation_from_waiter(text, members[sop], prov)
            if edge is not None:
                yield edge
