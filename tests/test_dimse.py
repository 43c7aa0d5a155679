"""`lineage reconcile dimse` against a real Orthanc (a C-FIND SCP) started by tools.orthanc_local:
a known set of studies, then after deleting a series and adding one; refusals and unreachable
archives are one clear line."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.uid import generate_uid
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_ECHO, C_FIND

from connectors.dimse import parse_target, reconcile_target
from lineage.backfill.digest import canonical_digest
from lineage.errors import SourceUnavailableError
from lineage.stores import GraphStore, LocalStore
from tests import dicom_factory as make
from tests.test_cli import assert_one_line_error, lineage
from tools.orthanc_local import OrthancServer

SYSTEM = "PACS-ORTHANC"
SINCE = date(2020, 1, 1)


def target(orthanc: OrthancServer, called: str = "LINEAGETEST") -> Any:
    return parse_target(f"127.0.0.1:{orthanc.dicom_port}", "LINEAGE-TEST", called, timeout=10,
                        retries=1)


def orthanc_id(orthanc: OrthancServer, series_uid: str) -> str:
    found = httpx.post(f"{orthanc.url}/tools/lookup", content=series_uid).json()
    return str(next(item["ID"] for item in found if item["Type"] == "Series"))


def held(orthanc: OrthancServer) -> str:
    """What Orthanc holds by its own REST API: for an assertion's message, should a C-FIND
    listing ever disagree with it (it did twice, under CI, not reproduced alone)."""
    studies = httpx.get(f"{orthanc.url}/studies", params={"expand": 1}).json()
    return "Orthanc holds: " + "; ".join(
        f"{s['MainDicomTags'].get('StudyDate')} {len(s['Series'])} series" for s in studies)


def three_studies(orthanc: OrthancServer, folder: Path) -> None:
    for day in ("20240105", "20240220", "20250611"):
        orthanc.upload(make.save(make.instance(make.CT, generate_uid(),
                                               generate_uid(), "CT", study_date=day),
                                 folder / day, "i.dcm"))


def test_a_known_archive_then_a_deleted_and_an_added_series(
        any_store: GraphStore, orthanc: OrthancServer, tmp_path: Path) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    for path in chain.files["ct"] + chain.files["lossy"] + chain.files["seg"]:
        orthanc.upload(path)

    first = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE, record=True)
    assert (first["pacs_series"], first["studies"], first["graph_copies"]) == (3, 1, 0)
    assert {u["key"] for u in first["uncataloged"]} == {
        f"series:{chain.ct_series}", f"series:{chain.lossy_series}",
        f"series:{chain.seg_series}"}
    ct = any_store.get_node(f"object:{SYSTEM}:{chain.ct_series}")
    assert ct is not None and ct.properties["instance_count"] == 3
    assert (ct.properties["source"], ct.properties["confidence"]) == (
        "dimse:LINEAGETEST", "observed")
    again = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE)
    assert again["lost"] == again["uncataloged"] == again["instance_count_mismatch"] == [], (
        again["pacs_series"], again["studies"], again["incomplete"], held(orthanc))

    httpx.delete(f"{orthanc.url}/series/{orthanc_id(orthanc, chain.seg_series)}"
                 ).raise_for_status()
    for path in chain.files["rtstruct"]:
        orthanc.upload(path)
    changed = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE)
    assert [lost["key"] for lost in changed["lost"]] == [f"object:{SYSTEM}:{chain.seg_series}"]
    assert [new["key"] for new in changed["uncataloged"]] == [
        f"series:{chain.rtstruct_series}"]


def test_paging_by_study_date_finds_the_same_studies(any_store: GraphStore,
                                                     orthanc: OrthancServer,
                                                     tmp_path: Path) -> None:
    """Three studies on three dates; a window of 1 day, and a window answered in full (one
    result allowed) is halved until each holds one study: the same series as one query."""
    three_studies(orthanc, tmp_path)
    whole = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE, window_days=0)
    paged = reconcile_target(any_store, target(orthanc), SYSTEM, since=date(2024, 1, 1),
                             window_days=1000, max_results=1)
    assert whole["studies"] == paged["studies"] == 3, (whole["studies"], paged["studies"],
                                                       held(orthanc))
    assert sorted(u["key"] for u in whole["uncataloged"]) == sorted(
        u["key"] for u in paged["uncataloged"])


def drop_responses(monkeypatch: pytest.MonkeyPatch, times: int,
                   kind: type[C_FIND | C_ECHO] = C_FIND) -> list[C_FIND | C_ECHO]:
    """pynetdicom's association thread can take a response off the queue `send_c_find` (or
    `send_c_echo`) reads, under CPU load (connectors.dimse.Dimse.find): here it takes the first
    response of `kind` to each of the next `times` requests (for C-FIND, its first match) and
    hands it to the association's request handler as that thread does (which logs it as
    unexpected and drops it). Returns what was taken."""
    taken: list[C_FIND | C_ECHO] = []
    real = DIMSEServiceProvider.get_msg
    first = [True]  # the next response is a request's first

    def get_msg(self: DIMSEServiceProvider, block: bool = False) -> Any:
        context, message = real(self, block)
        pending = isinstance(message, C_FIND) and message.Status in (0xFF00, 0xFF01)
        if (block and isinstance(message, kind) and (pending or kind is C_ECHO)
                and context is not None and first[0] and len(taken) < times):
            taken.append(message)
            self.assoc._serve_request(message, context)
            context, message = real(self, block)
        first[0] = not pending
        return context, message

    monkeypatch.setattr(DIMSEServiceProvider, "get_msg", get_msg)
    return taken


def test_a_match_the_client_library_drops_is_asked_for_again(
        orthanc: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    three_studies(orthanc, tmp_path)
    caplog.set_level(logging.INFO, logger="lineage.connectors.dimse")
    taken = drop_responses(monkeypatch, times=1)
    with LocalStore(tmp_path / "lineage.db") as store:
        report = reconcile_target(store, target(orthanc), SYSTEM, since=SINCE, window_days=0)
    assert len(taken) == 1
    assert report["studies"] == 3, held(orthanc)  # 2 before: the dropped study was "lost"
    assert "sent 3 matches to a C-FIND and 2 reached the listing; asking again" in caplog.text


def test_an_echo_answer_the_client_library_drops_is_asked_for_again(
        orthanc: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    three_studies(orthanc, tmp_path)
    taken = drop_responses(monkeypatch, times=1, kind=C_ECHO)
    quick = parse_target(f"127.0.0.1:{orthanc.dicom_port}", "LINEAGE-TEST", "LINEAGETEST",
                         timeout=2, retries=1)
    with LocalStore(tmp_path / "lineage.db") as store:
        report = reconcile_target(store, quick, SYSTEM, since=SINCE, window_days=0)
    assert len(taken) == 1 and report["studies"] == 3  # before: "did not answer C-ECHO"


def test_a_listing_that_keeps_losing_matches_is_an_error_and_writes_nothing(
        orthanc: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    three_studies(orthanc, tmp_path)
    with LocalStore(tmp_path / "lineage.db") as store:
        reconcile_target(store, target(orthanc), SYSTEM, since=SINCE, window_days=0,
                         record=True)
        before = canonical_digest(store)
        taken = drop_responses(monkeypatch, times=10)
        with pytest.raises(SourceUnavailableError) as error:
            reconcile_target(store, target(orthanc), SYSTEM, since=SINCE, window_days=0,
                             record=True, sweep=True)
        assert canonical_digest(store) == before
    assert len(taken) == 2  # the query and its one retry (target: retries=1)
    assert str(error.value) == (
        f"the DICOM service at 127.0.0.1:{orthanc.dicom_port} (LINEAGETEST) sent 3 matches to a "
        "C-FIND and 2 reached the listing (2 attempts)")


def test_refused_and_unreachable_archives_are_one_clear_line(orthanc: OrthancServer,
                                                             tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db"):  # an empty store to compare with
        pass
    refused = lineage("reconcile", "dimse", f"127.0.0.1:{orthanc.dicom_port}", "--system",
                      SYSTEM, "--called-ae", "NOT-ORTHANC", "--timeout", "5", cwd=tmp_path)
    assert_one_line_error(refused, "refused the association",
                          "does not know the called AE title 'NOT-ORTHANC'")
    closed = lineage("reconcile", "dimse", "127.0.0.1:1", "--system", SYSTEM, "--called-ae",
                     "LINEAGETEST", "--timeout", "2", "--retries", "1", cwd=tmp_path)
    assert_one_line_error(closed, "could not reach the DICOM service at 127.0.0.1:1", "2 "
                          "attempts")
    assert_one_line_error(lineage("reconcile", "dimse", "nowhere", "--system", SYSTEM,
                                  cwd=tmp_path), "'nowhere' is not HOST:PORT")
    assert_one_line_error(lineage("reconcile", "dimse", "127.0.0.1:104", "--system", SYSTEM,
                                  "--called-ae", "A" * 17, cwd=tmp_path), "--called-ae")


def test_the_cli_reports_as_for_dicomweb(orthanc: OrthancServer, tmp_path: Path) -> None:
    chain = make.write_chain(tmp_path / "dicom")
    for path in chain.files["ct"]:
        orthanc.upload(path)
    with LocalStore(tmp_path / "lineage.db"):  # an empty store to compare with
        pass
    result = lineage("reconcile", "dimse", f"127.0.0.1:{orthanc.dicom_port}", "--system",
                     SYSTEM, "--called-ae", "LINEAGETEST", "--since", "2020-01-01", "--json",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # uncataloged: a difference
    report = json.loads(result.stdout)
    assert set(report) >= {"system", "url", "pacs_series", "graph_copies", "lost",
                           "uncataloged", "instance_count_mismatch"}
    assert report["uncataloged"][0]["instances"] == 3


def test_the_demo_reconciles_with_a_demo_orthanc(orthanc: OrthancServer, tmp_path: Path) -> None:
    result = lineage("demo", "--folder", "demo", "--orthanc", orthanc.url, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    step = f"reconcile dimse 127.0.0.1:{orthanc.dicom_port} --system PACS-NORTH"
    assert step in result.stdout
    after = result.stdout[result.stdout.index(step):]
    assert "PACS-NORTH at 127.0.0.1" in after and "8 series in the PACS" in after
    assert "lost: 0" in after  # the graph and the archive agree on what PACS-NORTH holds
