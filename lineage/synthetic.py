"""Synthetic DICOM headers written with pydicom, for the demo, the tests and the benchmarks.

Headers only (no pixel data): the engine never reads pixels. Every file is a real DICOM file
(preamble, file meta, explicit VR little endian unless said otherwise) that pydicom, dcmtk and
Orthanc read.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
MG = "1.2.840.10008.5.1.4.1.1.1.2"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RTPLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RTDOSE = "1.2.840.10008.5.1.4.1.1.481.2"
PATIENT_ID = "MRN-7731"
ISSUER = "NORTH-HOSP"


def code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def instance(
    sop_class: str, study: str, series: str, modality: str, *, sop: str | None = None,
    patient_id: str = PATIENT_ID, issuer: str = ISSUER, patient_name: str = "DOE^JANE",
    birth: str = "19800214", study_date: str = "20240105", accession: str = "ACC-1001",
    institution: str = "North General", transfer_syntax: UID = ExplicitVRLittleEndian,
    **attributes: object,
) -> Dataset:
    """One DICOM instance header (no pixel data) with the identifying attributes set."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = sop or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = study, series, modality
    ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = patient_name, patient_id, issuer
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime = birth, study_date, "101500"
    ds.AccessionNumber, ds.InstitutionName = accession, institution
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def save(ds: Dataset, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def reference(sop_class: str, sop: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop
    return item


