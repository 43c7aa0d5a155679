"""The ingest service on each real store: retention recomputed only for what changed, sweeps of
rescanned sources, and the instance index surviving a crash mid-scan."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

from connectors.dicom_files import scan
from connectors.dicom_records import DicomSource
from lineage.ingest import NOT_FOUND_ON_RESCAN, SourceRecord, ingest
from lineage.pipeline import Commit, RunReport
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore, LocalStore
from tests import dicom_factory as make

SECRET = b"s" * 32


def scan_into(store: GraphStore, paths: Iterable[Path], system: str = "PACS-LON",
              sweep: bool = False) -> RunReport:
    source = DicomSource(system=system, secret=SECRET, region="eu-west-2")
    records = scan(list(paths), source, store, workers=1, sweep=sweep)
    return ingest(store, records, f"dicom:{system}")


def patient_series(folder: Path, patient: int, series: int = 1) -> list[str]:
    """A study of `series` CT series for one patient; returns the series UIDs."""
    study = f"1.2.826.0.1.9.{patient}"
    uids = [f"{study}.{n}" for n in range(1, series + 1)]
    for uid in uids:
        make.save(make.instance(make.CT, study, uid, "CT", patient_id=f"P{patient}",
                                study_date="20200101"), folder, f"p{patient}-{uid}.dcm")
    return uids


def test_one_new_file_recomputes_only_its_patients_copies(any_store: GraphStore,
                                                          tmp_path: Path) -> None:
    for patient in range(6):
        patient_series(tmp_path / "pacs", patient)
    scan_into(any_store, [tmp_path / "pacs"])
    apply_retention(any_store, load_policy())

    new = make.instance(make.CT, "1.2.826.0.1.9.0.7", "1.2.826.0.1.9.0.7.1", "CT",
                        patient_id="P0", study_date="20240101")
    make.save(new, tmp_path / "new", "new.dcm")
    report = scan_into(any_store, [tmp_path / "new"])

    # the new copy and patient P0's older copy; not the five other patients' copies in PACS-LON
    assert report.extra["retention"] | {"seconds": 0} == {"recomputed": 2, "unknown": 0,
                                                          "seconds": 0}
    assert report.extra["retention"]["seconds"] >= 0
    again = scan_into(any_store, [tmp_path / "new"])  # nothing changed: nothing to recompute
    assert again.extra["retention"]["recomputed"] == again.extra["retention"]["unknown"] == 0


def test_a_rescan_with_sweep_disposes_exactly_the_deleted_copy(any_store: GraphStore,
                                                               tmp_path: Path) -> None:
    folder = tmp_path / "pacs"
    kept, gone = patient_series(folder, 1), patient_series(folder, 2)
    scan_into(any_store, [folder], sweep=True)
    for path in folder.glob("p2-*.dcm"):
        path.unlink()

    partial = scan_into(any_store, [folder / f"p1-{kept[0]}.dcm"])  # a file list: no sweep
    assert "sweeps" not in partial.extra
    report = scan_into(any_store, [folder], sweep=True)

    assert report.extra["sweeps"] == [{"system": "PACS-LON", "scope": str(folder),
                                       "live_before": 2, "seen": 1, "disposed": 1}]
    disposed = any_store.get_node(f"object:PACS-LON:{gone[0]}")
    assert disposed is not None
    assert disposed.properties["disposal_reason"] == NOT_FOUND_ON_RESCAN
    assert "disposed_at" in disposed.properties  # kept, never deleted
    live = any_store.get_node(f"object:PACS-LON:{kept[0]}")
    assert live is not None and "disposed_at" not in live.properties
    other = scan_into(any_store, [folder], system="VNA", sweep=True)  # another system's sweep
    assert other.extra["sweeps"][0]["disposed"] == 0


CRASHING_SCAN = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from connectors.dicom_files import scan
    from connectors.dicom_records import DicomSource
    from lineage.ingest import ingest
    from lineage.stores import LocalStore

    store = LocalStore(Path(sys.argv[1]))
    store.open()
    real_upsert = store.upsert

    def upsert(nodes, edges=()):
        if any(edge.type.value == "DERIVED_FROM" for edge in edges):
            os._exit(9)  # killed before the released derivation edges are stored
        return real_upsert(nodes, edges)

    store.upsert = upsert
    source = DicomSource(system="PACS1", secret=b"s" * 32)
    ingest(store, scan([Path(sys.argv[2])], source, store, workers=1), "dicom:PACS1")
""")


def test_a_crash_mid_scan_loses_no_derivation_edge(tmp_path: Path) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    store_path = tmp_path / "lineage.db"
    with LocalStore(store_path) as store:  # the lossy derivative first: it waits for the CT
        scan_into(store, [tmp_path / "dicom" / "lossy"], system="PACS1")
    crashed = subprocess.run([sys.executable, "-c", CRASHING_SCAN, str(store_path),
                              str(tmp_path / "dicom" / "ct")], capture_output=True, text=True,
                             timeout=120, cwd=Path(__file__).resolve().parents[1],
                             env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert crashed.returncode == 9, crashed.stderr

    with LocalStore(store_path) as store:
        scan_into(store, [tmp_path / "dicom" / "ct"], system="PACS1")  # the same scan again
        edges = store.edges(f"series:{chain.lossy_series}", "out", ["DERIVED_FROM"])  # type: ignore[list-item]
        assert [e.dst for e in edges] == [f"series:{chain.ct_series}"]


def test_a_long_run_recomputes_retention_at_its_commit_points(any_store: GraphStore,
                                                              tmp_path: Path) -> None:
    """A follower (`ingest orthanc --follow`) runs for days: retention of what it wrote is
    current after each committed page, not only when it stops."""
    patient_series(tmp_path / "old", 1)
    scan_into(any_store, [tmp_path / "old"])
    apply_retention(any_store, load_policy())
    [uid] = patient_series(tmp_path / "new", 2)
    seen_during_the_run: list[object] = []

    def follower() -> Iterator[SourceRecord]:
        source = DicomSource(system="PACS-LON", secret=SECRET, region="eu-west-2")
        yield from scan([tmp_path / "new"], source, any_store, workers=1)
        yield Commit(lambda: None)  # the end of a page
        node = any_store.get_node(f"object:PACS-LON:{uid}")
        assert node is not None
        seen_during_the_run.append(node.properties.get("retention_status"))

    report = ingest(any_store, follower(), "follower", retention_every=0)
    assert seen_during_the_run == ["computed"]
    assert report.extra["retention"]["recomputed"] == 1
