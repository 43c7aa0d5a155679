"""What the lineage engine reads from one DICOM header: a pure transform from a pydicom Dataset
(read from a file, built from Orthanc tags, or from PS3.18 JSON) to a `DicomHeader`.

Nothing here does I/O, and nothing here keeps a patient identifier in clear: the patient is kept
as (issuer, id) only until `connectors.dicom_records` pseudonymizes it.

Values that are missing or malformed but not needed to place the object (a birth date of
`11111111`, an age of `22Y`, an empty study date) are left out and listed in `warnings`; missing
UIDs make the header unusable (`HeaderError`).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydicom.dataset import Dataset

from lineage.errors import UserError
from lineage.model import DICOM_UID, is_dicom_uid

# Only these are read from files (pydicom `specific_tags`): the header module's whole appetite.
TAGS = [
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
    "ImageType", "StudyDate", "SeriesDate", "ContentDate", "ContentTime", "InstanceCreationDate",
    "InstanceCreationTime", "AccessionNumber", "IssuerOfAccessionNumberSequence",
    "InstitutionName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientAge",
    "SourceImageSequence", "DerivationCodeSequence", "ReferencedSeriesSequence",
    "CurrentRequestedProcedureEvidenceSequence", "ConceptNameCodeSequence",
    "ReferencedFrameOfReferenceSequence", "ReferencedStructureSetSequence",
    "ReferencedRTPlanSequence", "PatientIdentityRemoved", "DeidentificationMethodCodeSequence",
    "LossyImageCompression", "OriginalAttributesSequence", "InstanceAvailability",
]

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
LOSSY_COMPRESSION = "113040"
RETAIN_UIDS = "113110"
# IOCM rejection note titles (CID 7010); 113039 is a retention deletion.
REJECTION_CODES = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}
RETENTION_EXPIRED = "113039"
OLDEST_BIRTH_YEAR = 1880  # '11111111' parses as a date; nobody alive was born then
_AGE = re.compile(r"^(\d{3})([DWMY])\Z")


class HeaderError(UserError):
    """A header that cannot be placed in the graph (a missing or malformed UID)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A derivation reference: to a series (by UID), or to an instance (series maybe unknown)."""

    kind: str
    code: str
    series_uid: str | None = None
    instance_uid: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """An IOCM rejection note: which series (and how many of their instances) it rejects."""

    code: str
    reason: str
    at: str | None
    series: dict[str, int]


@dataclass(slots=True)
class DicomHeader:
    sop_class: str
    sop_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    modality: str | None = None
    image_type: str | None = None
    study_date: str | None = None
    accession: str | None = None
    institution: str | None = None
    patient_issuer: str | None = None
    patient_id: str | None = None
    birth_year_month: str | None = None
    age_at_study: int | None = None
    lossy: bool = False
    deidentified: bool = False
    retain_uids: bool = False
    deid_methods: list[str] = field(default_factory=list)
    availability: str | None = None
    references: list[Reference] = field(default_factory=list)
    rejection: Rejection | None = None
    change_history: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_header(ds: Dataset, transfer_syntax: str = "") -> DicomHeader:
    """The lineage facts of one DICOM header; HeaderError when it cannot be placed."""
    header = DicomHeader(
        sop_class=_uid(ds, "SOPClassUID"),
        sop_uid=_uid(ds, "SOPInstanceUID"),
        study_uid=_uid(ds, "StudyInstanceUID"),
        series_uid=_uid(ds, "SeriesInstanceUID"),
        transfer_syntax=transfer_syntax or _file_transfer_syntax(ds),
    )
    header.modality = _text(ds, "Modality")
    image_type = ds.get("ImageType")
    if image_type:
        values = [image_type] if isinstance(image_type, str) else list(image_type)
        first = str(values[0]).strip().upper() if values else ""
        header.image_type = first if first in ("ORIGINAL", "DERIVED") else None
    header.institution = _text(ds, "InstitutionName")
    header.accession = _accession(ds)
    header.availability = _text(ds, "InstanceAvailability")
    header.patient_id = _text(ds, "PatientID")
    header.patient_issuer = _text(ds, "IssuerOfPatientID")
    _dates_and_age(ds, header)
    header.lossy = _text(ds, "LossyImageCompression") == "01" or _has_code(
        ds, "DerivationCodeSequence", LOSSY_COMPRESSION)
    _deidentification(ds, header)
    header.references = _references(ds, header)
    header.rejection = _rejection(ds, header)
    header.change_history = _change_history(ds)
    return header


# -- simple values ------------------------------------------------------------------------------
def _uid(ds: Dataset, keyword: str) -> str:
    value = str(ds.get(keyword, "") or "").strip().rstrip("\x00")
    if not value:
        raise HeaderError(f"{keyword} is missing")
    if not is_dicom_uid(value):
        raise HeaderError(f"{keyword} {value[:70]!r} is not a valid UID")
    return value


def _text(ds: Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element pydicom cannot decode
        return None
    if value is None:
        return None
    text = str(value).strip().rstrip("\x00").strip()
    return text or None


def _file_transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(value) if value else ""


def _accession(ds: Dataset) -> str | None:
    accession = _text(ds, "AccessionNumber")
    if accession is None:
        return None
    issuers = ds.get("IssuerOfAccessionNumberSequence") or []
    issuer = _text(issuers[0], "LocalNamespaceEntityID") if len(issuers) else None
    return f"{issuer}/{accession}" if issuer else accession


def _dicom_date(value: str | None) -> date | None:
    if not value or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _dates_and_age(ds: Dataset, header: DicomHeader) -> None:
    raw_study = _text(ds, "StudyDate")
    study = _dicom_date(raw_study)
    if study:
        header.study_date = study.isoformat()
    elif raw_study:
        header.warnings.append("StudyDate is not a date: left out")
    raw_birth = _text(ds, "PatientBirthDate")
    birth = _dicom_date(raw_birth)
    if birth and (birth.year < OLDEST_BIRTH_YEAR or (study is not None and birth > study)):
        header.warnings.append("PatientBirthDate is not a plausible birth date: left out")
        birth = None
    elif raw_birth and not birth:
        header.warnings.append("PatientBirthDate is not a date: left out")
    if birth:
        header.birth_year_month = f"{birth.year:04d}-{birth.month:02d}"
        if study:
            header.age_at_study = study.year - birth.year - (
                (study.month, study.day) < (birth.month, birth.day))
            return
    raw_age = _text(ds, "PatientAge")
    match = _AGE.match(raw_age or "")
    if match:
        count, unit = int(match.group(1)), match.group(2)
        header.age_at_study = count if unit == "Y" else count // {"D": 365, "W": 52, "M": 12}[unit]
    elif raw_age:
        header.warnings.append("PatientAge is not a DICOM age (nnnD/W/M/Y): left out")
    if header.age_at_study is None:
        header.warnings.append("patient age unknown: no valid birth date or age")


# -- codes and references -----------------------------------------------------------------------
def _codes(ds: Dataset, keyword: str) -> list[str]:
    return [str(item.get("CodeValue", "")).strip() for item in ds.get(keyword) or []]


def _has_code(ds: Dataset, keyword: str, code: str) -> bool:
    return code in _codes(ds, keyword)


def _deidentification(ds: Dataset, header: DicomHeader) -> None:
    header.deidentified = (_text(ds, "PatientIdentityRemoved") or "").upper() == "YES"
    if header.deidentified:
        header.deid_methods = [c for c in _codes(ds, "DeidentificationMethodCodeSequence") if c]
        header.retain_uids = RETAIN_UIDS in header.deid_methods


def _references(ds: Dataset, header: DicomHeader) -> list[Reference]:
    refs: list[Reference] = []
    derivation = next((c for c in _codes(ds, "DerivationCodeSequence") if c), "")
    kind = "lossy_compression" if derivation == LOSSY_COMPRESSION else "derived"
    for item in ds.get("SourceImageSequence") or []:
        uid = _text(item, "ReferencedSOPInstanceUID")
        if uid and uid != header.sop_uid:
            refs.append(Reference(kind, derivation, instance_uid=uid))
    if header.sop_class == SEGMENTATION:
        refs += _series_refs(ds.get("ReferencedSeriesSequence") or [], "segmentation")
    elif header.sop_class == KEY_OBJECT_SELECTION:
        if not _rejection_code(ds):
            for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or []:
                refs += _series_refs(study.get("ReferencedSeriesSequence") or [],
                                     "key_object_selection")
    elif header.sop_class == RT_STRUCTURE_SET:
        for frame in ds.get("ReferencedFrameOfReferenceSequence") or []:
            for study in frame.get("RTReferencedStudySequence") or []:
                refs += _series_refs(study.get("RTReferencedSeriesSequence") or [],
                                     "rt_structure")
    elif header.sop_class == RT_PLAN:
        refs += _instance_refs(ds.get("ReferencedStructureSetSequence") or [], "rt_plan")
    elif header.sop_class == RT_DOSE:
        refs += _instance_refs(ds.get("ReferencedRTPlanSequence") or [], "rt_dose")
    elif ds.get("ReferencedSeriesSequence"):
        refs += _series_refs(ds.get("ReferencedSeriesSequence") or [], "references")
    return [r for r in refs if r.series_uid != header.series_uid]


def _series_refs(items: Any, kind: str) -> list[Reference]:
    found = (_text(item, "SeriesInstanceUID") for item in items)
    return [Reference(kind, "", series_uid=uid) for uid in found if uid and DICOM_UID.match(uid)]


def _instance_refs(items: Any, kind: str) -> list[Reference]:
    found = (_text(item, "ReferencedSOPInstanceUID") for item in items)
    return [Reference(kind, "", instance_uid=uid) for uid in found if uid and DICOM_UID.match(uid)]


def _rejection_code(ds: Dataset) -> str | None:
    return next((c for c in _codes(ds, "ConceptNameCodeSequence") if c in REJECTION_CODES), None)


def _rejection(ds: Dataset, header: DicomHeader) -> Rejection | None:
    if header.sop_class != KEY_OBJECT_SELECTION:
        return None
    code = _rejection_code(ds)
    if code is None:
        return None
    series: dict[str, int] = {}
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or []:
        for item in study.get("ReferencedSeriesSequence") or []:
            uid = _text(item, "SeriesInstanceUID")
            if uid and DICOM_UID.match(uid):
                series[uid] = series.get(uid, 0) + len(item.get("ReferencedSOPSequence") or [])
    when = _datetime(_text(ds, "ContentDate"), _text(ds, "ContentTime")) or _datetime(
        _text(ds, "InstanceCreationDate"), _text(ds, "InstanceCreationTime"))
    return Rejection(code, REJECTION_CODES[code], when, series)


def _datetime(day: str | None, clock: str | None) -> str | None:
    parsed = _dicom_date(day)
    if parsed is None:
        return None
    digits = (clock or "").split(".")[0]
    hh, mm, ss = digits[0:2] or "00", digits[2:4] or "00", digits[4:6] or "00"
    if not (hh + mm + ss).isdigit() or int(hh) > 23 or int(mm) > 59 or int(ss) > 59:
        hh, mm, ss = "00", "00", "00"
    return f"{parsed.isoformat()}T{hh}:{mm}:{ss}Z"


def _change_history(ds: Dataset) -> list[str]:
    """OriginalAttributesSequence items as JSON strings: when, by whom, why, which attributes.
    The previous values are not kept: they may be identifiers (an old MRN)."""
    history = []
    for item in ds.get("OriginalAttributesSequence") or []:
        modified = item.get("ModifiedAttributesSequence") or []
        attributes = sorted({elem.keyword or str(elem.tag) for entry in modified for elem in entry})
        history.append(json.dumps({
            "at": _text(item, "AttributeModificationDateTime"),
            "by": _text(item, "ModifyingSystem"),
            "source": _text(item, "SourceOfPreviousValues"),
            "reason": _text(item, "ReasonForTheAttributeModification"),
            "attributes": attributes,
        }, sort_keys=True))
    return history


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")


def parsed_with_warnings(build: Callable[[], DicomHeader]) -> DicomHeader:
    """`build()` (reading and parsing one header), with pydicom's warnings kept as the header's
    warnings (they reach the run report as notices) instead of going to stderr, each without
    the values it quotes: `Invalid value for VR DA: 'SMITH'` names a patient."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = build()
    for warning in caught:
        message = " ".join(str(warning.message).split())
        text = "pydicom: " + _QUOTED.sub("(value not shown)", message)
        if text not in header.warnings:
            header.warnings.append(text[:300])
    return header
