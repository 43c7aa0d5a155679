"""DICOMweb reconciliation against a real Orthanc with its DICOMweb plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.dicom_files import scan
from connectors.dicom_records import DicomSource
from connectors.dicomweb import QidoClient, reconcile
from connectors.http import JsonSource
from lineage.ingest import ingest
from lineage.model import Node, Provenance
from lineage.stores import GraphStore
from tests import dicom_factory as make
from tests.test_cli import lineage
from tools.orthanc_local import OrthancServer

pytestmark = pytest.mark.orthanc
SECRET = b"w" * 32


def test_reconcile_finds_lost_uncataloged_and_mismatched(
    any_store: GraphStore, orthanc: OrthancServer, tmp_path: Path
) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    for path in chain.files["ct"] + chain.files["lossy"] + chain.files["rtstruct"]:
        orthanc.upload(path)
    graph_side = chain.files["ct"][:2] + chain.files["lossy"] + chain.files["seg"] + chain.files[
        "rtdose"]
    source = DicomSource("PACS-A", SECRET)
    ingest(any_store, scan(graph_side, source, any_store), "dicom:PACS-A")
    any_store.upsert([Node(f"object:PACS-A:{chain.rtdose_series}",
                           Provenance("test", "2030-01-01"), {"disposed_at": "2026-01-01"})])

    qido = QidoClient(JsonSource(f"{orthanc.url}/dicom-web", name="DICOMweb",
                                 headers={"Accept": "application/dicom+json"}), page_size=1)
    result = reconcile(qido, any_store, "PACS-A")

    assert (result.pacs_series, result.graph_copies) == (3, 3)
    assert [e["key"] for e in result.lost] == [f"object:PACS-A:{chain.seg_series}"]
    assert [e["key"] for e in result.uncataloged] == [f"series:{chain.rtstruct_series}"]
    assert result.uncataloged[0]["study"] == f"study:{chain.study}"
    assert result.instance_count_mismatch == [{
        "key": f"object:PACS-A:{chain.ct_series}", "series": f"series:{chain.ct_series}",
        "graph": 2, "pacs": 3}]


def test_reconcile_cli_prints_json_and_exits_1_on_differences(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    orthanc.upload(chain.files["seg"][0])
    assert lineage("ingest", "dicom", str(chain.files["ct"][0].parent), "--system", "PACS-A",
                   cwd=tmp_path).returncode == 0

    result = lineage("reconcile", "dicomweb", f"{orthanc.url}/dicom-web", "--system", "PACS-A",
                     "--json", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [e["key"] for e in report["lost"]] == [f"object:PACS-A:{chain.ct_series}"]
    assert [e["key"] for e in report["uncataloged"]] == [f"series:{chain.seg_series}"]


def test_reconcile_with_sweep_disposes_what_the_pacs_no_longer_holds(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    orthanc.upload(chain.files["seg"][0])
    for kind in ("ct", "seg"):
        assert lineage("ingest", "dicom", str(chain.files[kind][0].parent), "--system",
                       "PACS-A", cwd=tmp_path).returncode == 0

    result = lineage("reconcile", "dicomweb", f"{orthanc.url}/dicom-web", "--system", "PACS-A",
                     "--sweep", "--json", cwd=tmp_path)

    assert result.returncode == 1, result.stderr  # a difference was found: the lost CT copy
    report = json.loads(result.stdout)
    assert report["sweep"]["disposed"] == 1
    again = json.loads(lineage("reconcile", "dicomweb", f"{orthanc.url}/dicom-web", "--system",
                               "PACS-A", "--json", cwd=tmp_path).stdout)
    assert again["lost"] == []  # disposed, so no longer believed live
    from lineage.stores import LocalStore
    with LocalStore(tmp_path / "lineage.db") as store:
        ct = store.get_node(f"object:PACS-A:{chain.ct_series}")
        assert ct is not None and ct.properties["disposal_reason"] == "not found on rescan"
