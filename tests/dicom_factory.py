"""Real DICOM files for the tests, written with pydicom: consistent lineage chains.

`write_chain(folder)` writes an original CT series, a lossy derivative, a SEG, an RTSTRUCT,
RTPLAN and RTDOSE, two de-identified copies (new UIDs with a UID map; Retain UIDs), and returns
the UIDs. Headers only (no pixel data): the engine never reads pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000, generate_uid

from lineage.synthetic import (
    CT,
    ISSUER,
    KOS,
    PATIENT_ID,
    RTDOSE,
    RTPLAN,
    RTSTRUCT,
    SEG,
    code,
    instance,
    reference,
    save,
)

__all__ = ["CT", "ISSUER", "KOS", "PATIENT_ID", "RTDOSE", "RTPLAN", "RTSTRUCT", "SEG", "code",
           "instance", "reference", "save"]
def series_reference(series: str, sops: list[str] | None = None, sop_class: str = CT) -> Dataset:
    item = Dataset()
    item.SeriesInstanceUID = series
    if sops is not None:
        item.ReferencedSOPSequence = [reference(sop_class, s) for s in sops]
    return item


@dataclass
class Chain:
    study: str = field(default_factory=generate_uid)
    ct_series: str = field(default_factory=generate_uid)
    ct_sops: list[str] = field(default_factory=list)
    lossy_series: str = field(default_factory=generate_uid)
    seg_series: str = field(default_factory=generate_uid)
    rtstruct_series: str = field(default_factory=generate_uid)
    rtstruct_sop: str = field(default_factory=generate_uid)
    rtplan_series: str = field(default_factory=generate_uid)
    rtplan_sop: str = field(default_factory=generate_uid)
    rtdose_series: str = field(default_factory=generate_uid)
    deid_study: str = field(default_factory=generate_uid)
    deid_series: str = field(default_factory=generate_uid)
    files: dict[str, list[Path]] = field(default_factory=dict)


def write_chain(folder: Path, ct_instances: int = 3) -> Chain:
    chain = Chain()
    chain.ct_sops = [generate_uid() for _ in range(ct_instances)]
    files: dict[str, list[Path]] = {}
    files["ct"] = [
        save(instance(CT, chain.study, chain.ct_series, "CT", sop=sop, ImageType=["ORIGINAL",
             "PRIMARY", "AXIAL"], InstanceAvailability="ONLINE"), folder / "ct", f"ct{i}.dcm")
        for i, sop in enumerate(chain.ct_sops)
    ]
    files["lossy"] = [
        save(instance(CT, chain.study, chain.lossy_series, "CT", transfer_syntax=JPEG2000,
                      ImageType=["DERIVED", "PRIMARY", "AXIAL"], LossyImageCompression="01",
                      SourceImageSequence=[reference(CT, sop)],
                      DerivationCodeSequence=[code("113040", "Lossy Compression")]),
             folder / "lossy", f"lossy{i}.dcm")
        for i, sop in enumerate(chain.ct_sops)
    ]
    seg_ref = series_reference(chain.ct_series)
    seg_ref.ReferencedInstanceSequence = [reference(CT, s) for s in chain.ct_sops]
    files["seg"] = [save(instance(SEG, chain.study, chain.seg_series, "SEG",
                                  ReferencedSeriesSequence=[seg_ref]), folder / "seg", "seg.dcm")]
    rt_series = Dataset()
    rt_series.SeriesInstanceUID = chain.ct_series
    rt_study = Dataset()
    rt_study.RTReferencedSeriesSequence = [rt_series]
    frame = Dataset()
    frame.FrameOfReferenceUID = generate_uid()
    frame.RTReferencedStudySequence = [rt_study]
    files["rtstruct"] = [save(instance(RTSTRUCT, chain.study, chain.rtstruct_series, "RTSTRUCT",
                                       sop=chain.rtstruct_sop,
                                       ReferencedFrameOfReferenceSequence=[frame]),
                              folder / "rt", "rtstruct.dcm")]
    files["rtplan"] = [save(instance(RTPLAN, chain.study, chain.rtplan_series, "RTPLAN",
                                     sop=chain.rtplan_sop, ReferencedStructureSetSequence=[
                                         reference(RTSTRUCT, chain.rtstruct_sop)]),
                            folder / "rt", "rtplan.dcm")]
    plan_reference = [reference(RTPLAN, chain.rtplan_sop)]
    files["rtdose"] = [save(instance(RTDOSE, chain.study, chain.rtdose_series, "RTDOSE",
                                     ReferencedRTPlanSequence=plan_reference),
                            folder / "rt", "rtdose.dcm")]
    files["deid"] = [
        save(instance(CT, chain.deid_study, chain.deid_series, "CT", patient_id="ANON-0001",
                      birth="", PatientIdentityRemoved="YES",
                      DeidentificationMethodCodeSequence=[code("113100", "Basic Profile")]),
             folder / "deid", f"deid{i}.dcm")
        for i in range(ct_instances)
    ]
    files["retained"] = [
        save(instance(CT, chain.study, chain.ct_series, "CT", sop=sop, patient_id="ANON-0002",
                      birth="", PatientIdentityRemoved="YES",
                      DeidentificationMethodCodeSequence=[code("113100", "Basic Profile"),
                                                          code("113110", "Retain UIDs")]),
             folder / "retained", f"retained{i}.dcm")
        for i, sop in enumerate(chain.ct_sops)
    ]
    chain.files = files
    return chain


def uid_map_csv(chain: Chain, path: Path) -> Path:
    path.write_text("original,deidentified\n"
                    f"{chain.study},{chain.deid_study}\n{chain.ct_series},{chain.deid_series}\n")
    return path


def rejection_note(chain: Chain, folder: Path, reason: str, meaning: str, name: str) -> Path:
    evidence = Dataset()
    evidence.StudyInstanceUID = chain.study
    evidence.ReferencedSeriesSequence = [series_reference(chain.ct_series, chain.ct_sops)]
    return save(instance(KOS, chain.study, generate_uid(), "KO",
                         ConceptNameCodeSequence=[code(reason, meaning)],
                         CurrentRequestedProcedureEvidenceSequence=[evidence],
                         ContentDate="20260301", ContentTime="120000"), folder, name)


def changed_instance(chain: Chain, folder: Path) -> Path:
    """An instance of the CT series whose PatientID was corrected by a reconciler."""
    old = Dataset()
    old.PatientID = "OLD-MRN-99999"
    change = Dataset()
    change.ModifiedAttributesSequence = [old]
    change.AttributeModificationDateTime = "20240302100000"
    change.ModifyingSystem = "RIS_PIR_RECONCILER"
    change.SourceOfPreviousValues = "GENHOSP"
    change.ReasonForTheAttributeModification = "CORRECT"
    return save(instance(CT, chain.study, chain.ct_series, "CT", sop=generate_uid(),
                         OriginalAttributesSequence=[change]), folder, "changed.dcm")
