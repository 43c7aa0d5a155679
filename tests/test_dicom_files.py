"""The DICOM file connector on real DICOM files, into each real store."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pydicom.data
import pytest

from connectors.dicom_files import FileFailure, read_files, scan, walk
from connectors.dicom_records import DicomSource
from connectors.uid_map import load_uid_map
from lineage.identity import patient_key
from lineage.ingest import SourceRecord
from lineage.ingest import ingest as run_ingest
from lineage.pipeline import RunReport
from lineage.stores import GraphStore
from tests import dicom_factory as make
from tests.dicom_factory import Chain

SECRET = b"t" * 32
PYDICOM_FILES = Path(os.path.dirname(pydicom.data.__file__)) / "test_files"


def ingest(store: GraphStore, paths: Iterable[Path], system: str = "PACS1",
           **options: object) -> RunReport:
    source = DicomSource(system=system, secret=SECRET, **options)  # type: ignore[arg-type]
    return run_ingest(store, scan(list(paths), source, store, workers=1), f"dicom:{system}")


def files(chain: Chain, *parts: str) -> list[Path]:
    return [path for part in parts for path in chain.files[part]]


def derived(store: GraphStore, series_uid: str) -> dict[str, tuple[str, str]]:
    return {e.dst: (str(e.properties["kind"]), str(e.properties["code"]))
            for e in store.edges(f"series:{series_uid}", "out", ["DERIVED_FROM"])}  # type: ignore[list-item]


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return make.write_chain(tmp_path / "dicom")


def test_copy_patient_study_and_series_from_headers(any_store: GraphStore, chain: Chain) -> None:
    report = ingest(any_store, files(chain, "ct"), region="eu-west-2")

    assert report.rejected == []
    copy = any_store.get_node(f"object:PACS1:{chain.ct_series}")
    assert copy is not None
    lines = sorted(f"{sop} 1.2.840.10008.1.2.1" for sop in chain.ct_sops)
    assert copy.properties["manifest_hash"] == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert copy.properties["instance_count"] == 3
    assert copy.properties["region_code"] == "eu-west-2"
    assert copy.properties["storage_tier"] == "online"
    assert copy.properties["bytes"] == sum(p.stat().st_size for p in chain.files["ct"])
    assert any_store.neighbours(copy.key) == [f"series:{chain.ct_series}", "system:PACS1"]
    study = any_store.get_node(f"study:{chain.study}").properties  # type: ignore[union-attr]
    assert (study["study_date"], study["modalities"], study["accession"]) == (
        "2024-01-05", ["CT"], "ACC-1001")
    assert (study["patient_age_at_study"], study["patient_minor_at_study"]) == (43, False)
    patient = patient_key(make.ISSUER, make.PATIENT_ID, SECRET)
    assert any_store.neighbours(f"study:{chain.study}") == [patient]
    assert any_store.get_node(patient).properties["birth_year_month"] == "1980-02"  # type: ignore[union-attr]
    series = any_store.get_node(f"series:{chain.ct_series}").properties  # type: ignore[union-attr]
    assert series["modality"] == "CT" and "instance_count" not in series  # facts of each copy
    assert copy.properties["image_type"] == "ORIGINAL"


def test_no_patient_identity_in_clear(any_store: GraphStore, chain: Chain) -> None:
    ingest(any_store, walk([chain.files["ct"][0].parent.parent]))
    dump = repr([(n.key, n.properties) for n in any_store.iter_nodes()])
    dump += repr([(e.src, e.dst, e.properties) for e in any_store.iter_edges()])
    for secret in (make.PATIENT_ID, "DOE", "JANE", "19800214", "ANON-0001"):
        assert secret not in dump


def test_derivation_lineage_of_a_whole_chain(any_store: GraphStore, chain: Chain) -> None:
    ingest(any_store, files(chain, "ct", "lossy", "seg", "rtstruct", "rtplan", "rtdose"))

    ct = f"series:{chain.ct_series}"
    assert derived(any_store, chain.lossy_series) == {ct: ("lossy_compression", "113040")}
    assert derived(any_store, chain.seg_series) == {ct: ("segmentation", "")}
    assert derived(any_store, chain.rtstruct_series) == {ct: ("rt_structure", "")}
    assert derived(any_store, chain.rtplan_series) == {
        f"series:{chain.rtstruct_series}": ("rt_plan", "")}
    assert derived(any_store, chain.rtdose_series) == {
        f"series:{chain.rtplan_series}": ("rt_dose", "")}
    lossy_copy = any_store.get_node(f"object:PACS1:{chain.lossy_series}")
    assert lossy_copy is not None and lossy_copy.properties["lossy_instance_count"] == 3
    unresolved = [n.key for n in any_store.iter_nodes() if n.properties.get("unresolved")]
    assert unresolved == ["system:PACS1"]  # the system itself was never declared


@pytest.mark.parametrize("derivatives_first", [True, False])
def test_instance_references_resolve_in_either_order(
    any_store: GraphStore, chain: Chain, derivatives_first: bool
) -> None:
    first, second = files(chain, "lossy", "rtplan"), files(chain, "ct", "rtstruct")
    if not derivatives_first:
        first, second = second, first
    ingest(any_store, first)
    assert derived(any_store, chain.lossy_series) == {}
    ingest(any_store, second)
    assert derived(any_store, chain.lossy_series) == {
        f"series:{chain.ct_series}": ("lossy_compression", "113040")}
    assert derived(any_store, chain.rtplan_series) == {
        f"series:{chain.rtstruct_series}": ("rt_plan", "")}


def test_series_reference_to_unseen_series_is_a_placeholder(
    any_store: GraphStore, chain: Chain
) -> None:
    ingest(any_store, files(chain, "seg"))
    placeholder = any_store.get_node(f"series:{chain.ct_series}")
    assert placeholder is not None and placeholder.properties["unresolved"] is True
    ingest(any_store, files(chain, "ct"))
    resolved = any_store.get_node(f"series:{chain.ct_series}")
    assert resolved is not None and "unresolved" not in resolved.properties
    assert resolved.properties["modality"] == "CT"


def test_deidentified_copies(any_store: GraphStore, chain: Chain, tmp_path: Path) -> None:
    ingest(any_store, files(chain, "ct"))
    before = any_store.get_node(f"series:{chain.ct_series}")
    uid_map = load_uid_map(make.uid_map_csv(chain, tmp_path / "map.csv"))
    ingest(any_store, files(chain, "deid", "retained"), system="RESEARCH", uid_map=uid_map)

    ct = f"series:{chain.ct_series}"
    assert derived(any_store, chain.deid_series) == {ct: ("deidentification", "113100")}
    assert [e.dst for e in any_store.edges(f"study:{chain.deid_study}", "out",
                                           ["DERIVED_FROM"])] == [f"study:{chain.study}"]  # type: ignore[list-item]
    retained = f"series:{chain.ct_series}#deid:RESEARCH"
    assert derived(any_store, f"{chain.ct_series}#deid:RESEARCH") == {
        ct: ("deidentification", "113100")}
    assert any_store.get_node(retained).properties["deidentified"] is True  # type: ignore[union-attr]
    assert any_store.get_node(ct) == before  # the original is not merged with its copy
    assert any_store.get_node(f"object:RESEARCH:{chain.ct_series}#deid:RESEARCH") is not None


def test_deidentified_copy_without_uid_map_has_no_link(any_store: GraphStore, chain: Chain) -> None:
    ingest(any_store, files(chain, "deid"), system="RESEARCH")
    assert derived(any_store, chain.deid_series) == {}
    assert any_store.get_node(f"series:{chain.deid_series}").properties["deidentified"] is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "meaning", "disposed"),
    [("113001", "Rejected for Quality Reasons", False),
     ("113039", "Data Retention Policy Expired", True)],
)
def test_iocm_rejection_notes_hide_or_dispose_without_deleting(
    any_store: GraphStore, chain: Chain, tmp_path: Path, reason: str, meaning: str,
    disposed: bool,
) -> None:
    ingest(any_store, files(chain, "ct"))
    note = make.rejection_note(chain, tmp_path / "kos", reason, meaning, "note.dcm")
    ingest(any_store, [note])

    copy = any_store.get_node(f"object:PACS1:{chain.ct_series}")
    assert copy is not None and copy.properties["instance_count"] == 3
    assert copy.properties["rejection_code"] == reason
    assert copy.properties["rejected_at"] == "2026-03-01T12:00:00.000000Z"
    assert copy.properties["rejected_instance_count"] == 3
    assert ("disposed_at" in copy.properties) is disposed
    assert derived(any_store, "x") == {}
    assert any_store.get_node(f"series:{chain.ct_series}") is not None


def test_change_history_keeps_who_when_why_but_not_old_values(
    any_store: GraphStore, chain: Chain, tmp_path: Path
) -> None:
    ingest(any_store, [make.changed_instance(chain, tmp_path / "changed")])
    series = any_store.get_node(f"series:{chain.ct_series}")
    assert series is not None
    history = series.properties["change_history"]
    assert isinstance(history, list) and len(history) == 1
    entry = str(history[0])
    assert '"by": "RIS_PIR_RECONCILER"' in entry and '"attributes": ["PatientID"]' in entry
    assert '"reason": "CORRECT"' in entry and "OLD-MRN" not in entry


def test_bad_files_are_reported_and_the_rest_ingested(
    any_store: GraphStore, chain: Chain, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("not an image")
    data = chain.files["ct"][0].read_bytes()
    (bad / "truncated.dcm").write_bytes(data[: len(data) // 3])
    no_series = make.instance(make.CT, chain.study, "1.2.3", "CT")
    del no_series.SeriesInstanceUID
    make.save(no_series, bad, "no_series.dcm")
    make.save(make.instance(make.CT, "9.8.7", "9.8.7.1", "CT", birth="11111111",
                            PatientAge="22Y"), bad, "odd_dates.dcm")
    make.save(make.instance(make.CT, "9.8.6", "9.8.6.1", "CT", birth="", study_date=""),
              bad, "empty_dates.dcm")

    report = ingest(any_store, [bad, *chain.files["ct"]])

    reasons = {Path(r.location).name: r.reason for r in report.rejected}
    assert set(reasons) == {"notes.txt", "truncated.dcm", "no_series.dcm"}
    assert "not a DICOM file" in reasons["notes.txt"]
    assert reasons["no_series.dcm"] == "SeriesInstanceUID is missing"
    notices = {(Path(n.location).name, n.message) for n in report.notices}
    assert ("odd_dates.dcm",
            "PatientBirthDate is not a plausible birth date: left out") in notices
    assert ("odd_dates.dcm",
            "PatientAge is not a DICOM age (nnnD/W/M/Y): left out") in notices
    assert ("empty_dates.dcm", "patient age unknown: no valid birth date or age") in notices
    assert "11111111" not in repr(report.as_dict())  # a rejected birth date is not repeated
    assert any_store.get_node("study:9.8.7") is not None
    assert "patient_age_at_study" not in any_store.get_node("study:9.8.7").properties  # type: ignore[union-attr]
    assert any_store.get_node(f"object:PACS1:{chain.ct_series}") is not None
    assert any_store.get_node("series:1.2.3") is None


def test_every_file_bundled_with_pydicom_is_used_or_reported(any_store: GraphStore) -> None:
    paths = list(walk([PYDICOM_FILES]))
    results = list(read_files(paths, workers=2))  # the parallel path: more files than the threshold
    assert sorted(r.location for r in results) == sorted(map(str, paths))
    failures = {r.location for r in results if isinstance(r, FileFailure)}

    source = DicomSource("PACS1", SECRET)
    records: list[SourceRecord] = list(scan([PYDICOM_FILES], source, any_store))
    report = run_ingest(any_store, records, "dicom:PACS1")

    assert {r.location for r in report.rejected} == failures
    assert all(r.reason for r in report.rejected)
    assert report.written.nodes_created > 50
    assert str(PYDICOM_FILES / "CT_small.dcm") not in failures


def test_fifos_and_device_links_in_a_scanned_folder_are_skipped(any_store: GraphStore,
                                                                tmp_path: Path) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    folder = chain.files["ct"][0].parent
    os.mkfifo(folder / "pipe.dcm")  # a read would wait for a writer forever
    (folder / "zero.dcm").symlink_to("/dev/zero")  # a read would never end

    report = ingest(any_store, [folder])

    notices = {Path(n.location).name: n.message for n in report.notices}
    assert notices["pipe.dcm"] == "a FIFO, not a file: skipped"
    assert notices["zero.dcm"] == "a device, not a file: skipped"
    assert report.rejected == []
    assert any_store.get_node(f"object:PACS1:{chain.ct_series}") is not None


def test_subsets_of_a_series_in_two_systems_are_facts_of_each_copy(any_store: GraphStore,
                                                                   tmp_path: Path) -> None:
    from pydicom.uid import JPEG2000Lossless

    study, series = "1.2.826.0.1.77", "1.2.826.0.1.77.1"
    sops = ["1.2.826.0.1.77.1.1", "1.2.826.0.1.77.1.2"]
    for n, sop in enumerate(sops):  # the PACS holds both instances, ORIGINAL
        make.save(make.instance(make.CT, study, series, "CT", sop=sop, ImageType=["ORIGINAL"]),
                  tmp_path / "pacs", f"{n}.dcm")
    derived = make.instance(make.CT, study, series, "CT", sop=sops[0], ImageType=["DERIVED"])
    make.save(derived, tmp_path / "ai", "0.dcm")  # the AI system holds one, marked DERIVED
    again = make.instance(make.CT, study, series, "CT", sop=sops[0], ImageType=["DERIVED"],
                          transfer_syntax=JPEG2000Lossless)
    make.save(again, tmp_path / "ai", "0-j2k.dcm")  # the same instance in a second syntax

    ingest(any_store, [tmp_path / "pacs"], system="PACS1")
    report = ingest(any_store, [tmp_path / "ai"], system="AI")

    assert [c for c in any_store.conflicts() if c.element == f"series:{series}"] == []
    pacs, ai = (any_store.get_node(f"object:{s}:{series}") for s in ("PACS1", "AI"))
    assert pacs is not None and ai is not None
    assert (pacs.properties["instance_count"], pacs.properties["image_type"]) == (2, "ORIGINAL")
    assert (ai.properties["instance_count"], ai.properties["image_type"]) == (1, "DERIVED")
    assert any("1 instance stored in several transfer syntaxes" in n.message
               for n in report.notices)


def test_pydicom_warnings_become_notices_without_the_values(any_store: GraphStore,
                                                            tmp_path: Path) -> None:
    """pydicom warns when a DICOM JSON or Orthanc value breaks its VR, quoting the value."""
    from lineage.sources import Payload, SourceContext, run_source

    dataset = {"00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
               "00080018": {"vr": "UI", "Value": ["1.2.826.0.1.88.1.1"]},
               "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.88"]},
               "0020000E": {"vr": "UI", "Value": ["1.2.826.0.1.88.1"]},
               "00100030": {"vr": "DA", "Value": ["SMITH"]},  # a name in a date
               "00100020": {"vr": "LO", "Value": ["MRN1"]}}
    context = SourceContext(any_store, SECRET, state_path=lambda name: tmp_path / name)
    report = run_source("dicom-json", {"system": "PACS1", "payloads": [
        Payload(location="request", data=json.dumps([dataset]).encode())]}, context)

    assert report.rejected == []
    messages = [n.message for n in report.notices]
    assert "pydicom: Invalid value for VR DA: (value not shown)." in messages
    assert "SMITH" not in repr(report.as_dict())
