"""Archives cap the answers to one query; reconciling with them must neither fail on a cap nor
take a cut list for the whole archive. A real Orthanc with `LimitFindResults`: over DIMSE it
sends that many matches, then ends the list with status 0xFE00 (Cancel); over DICOMweb it sends
that many and one more, whatever the offset, and says nothing. And a pynetdicom archive that
sends its cap and says success. A window cut is halved; a day with more studies than the cap is
reported as incomplete, and a sweep, which would dispose of what the archive left out, is
refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from connectors.dicomweb import PacsSeries, reconcile_url
from connectors.dimse import observed, parse_target, reconcile_target
from lineage.errors import UserError
from lineage.ingest import ingest
from lineage.stores import GraphStore, LocalStore
from tests import dicom_factory as make
from tests.test_cli import assert_one_line_error, lineage
from tests.test_dimse import SYSTEM, target
from tools.local_process import free_port
from tools.orthanc_local import OrthancServer

CAP = 2
SINCE = date(2024, 1, 1)
# the `orthanc` fixture (conftest) with Orthanc's own cap on C-FIND answers
capped = pytest.mark.parametrize("orthanc", [{"LimitFindResults": CAP}], indirect=True,
                                 ids=["capped"])


def upload(orthanc: OrthancServer, folder: Path, *days: str) -> list[PacsSeries]:
    """One single-instance CT study for each day; what the archive holds, as listed."""
    held = []
    for n, day in enumerate(days):
        study, series = generate_uid(), generate_uid()
        orthanc.upload(make.save(make.instance(make.CT, study, series, "CT", study_date=day),
                                 folder / f"{n}", "i.dcm"))
        held.append(PacsSeries(study, series, "CT", 1))
    return held


@capped
def test_a_capped_orthanc_is_listed_window_by_window(any_store: GraphStore,
                                                     orthanc: OrthancServer,
                                                     tmp_path: Path) -> None:
    held = upload(orthanc, tmp_path, "20240105", "20240220", "20250611", "20250612")
    report = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE, window_days=1000)
    assert report["incomplete"] == []
    assert report["studies"] == 4
    assert sorted(u["key"] for u in report["uncataloged"]) == sorted(
        f"series:{h.series_uid}" for h in held)


@capped
def test_a_day_beyond_the_cap_is_incomplete_and_not_swept(any_store: GraphStore,
                                                         orthanc: OrthancServer,
                                                         tmp_path: Path) -> None:
    held = upload(orthanc, tmp_path, "20240105", "20240105", "20240105", "20250611")
    ingest(any_store, observed(held, SYSTEM, target(orthanc)), "test")  # the graph knows all 4
    with pytest.raises(UserError) as refused:
        reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE, sweep=True)
    assert "not swept" in str(refused.value) and "studies dated 2024-01-05" in str(refused.value)
    copies = [any_store.get_node(f"object:{SYSTEM}:{h.series_uid}") for h in held]
    assert all(c is not None and "disposed_at" not in c.properties for c in copies)

    report = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE)
    assert report["incomplete"] == [{
        "query": "studies dated 2024-01-05",
        "why": "the archive stopped the list (status 0xFE00, Cancel: a cap on its answers) "
               f"after {CAP} answers"}]
    assert report["studies"] == CAP + 1  # what the archive sent: the cap, and the other day
    assert len(report["lost"]) == 1  # the study it left out, which it may hold still

    unpaged = reconcile_target(any_store, target(orthanc), SYSTEM, since=SINCE, window_days=0)
    assert [entry["query"] for entry in unpaged["incomplete"]] == ["studies, every date"]


@capped
def test_the_cli_says_the_listing_is_incomplete_and_refuses_the_sweep(
        orthanc: OrthancServer, tmp_path: Path) -> None:
    held = upload(orthanc, tmp_path / "dicom", "20240105", "20240105", "20240105")
    with LocalStore(tmp_path / "lineage.db") as store:
        ingest(store, observed(held, SYSTEM, target(orthanc)), "test")
    address = f"127.0.0.1:{orthanc.dicom_port}"
    listed = lineage("reconcile", "dimse", address, "--system", SYSTEM, "--called-ae",
                     "LINEAGETEST", "--since", "2024-01-01", cwd=tmp_path)
    assert listed.returncode == 1, listed.stderr
    assert "incomplete: 1 queries the archive cut" in listed.stdout
    assert "studies dated 2024-01-05: the archive stopped the list" in listed.stdout
    swept = lineage("reconcile", "dimse", address, "--system", SYSTEM, "--called-ae",
                    "LINEAGETEST", "--since", "2024-01-01", "--sweep", cwd=tmp_path)
    assert_one_line_error(swept, "not swept", "nothing was written")
    web = lineage("reconcile", "dicomweb", dicomweb(orthanc), "--system", SYSTEM, "--max-results",
                  str(CAP), "--since", "2024-01-01", "--sweep", cwd=tmp_path)
    assert_one_line_error(web, "not swept: DICOMweb at", "studies dated 2024-01-05")
    with LocalStore(tmp_path / "lineage.db") as store:
        assert all("disposed_at" not in (store.get_node(f"object:{SYSTEM}:{h.series_uid}")
                                         or pytest.fail("copy gone")).properties
                   for h in held)


class SilentCap:
    """A C-FIND archive (pynetdicom) holding studies by date that sends at most `cap` matches
    and says success, as many archives do."""

    def __init__(self, days: list[str], cap: int):
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            StudyRootQueryRetrieveInformationModelFind,
            Verification,
        )

        self.held = {generate_uid(): day for day in days}
        self.series = {study: generate_uid() for study in self.held}
        self.cap = cap
        self.ae = AE(ae_title="LINEAGETEST")
        self.ae.add_supported_context(Verification)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.dicom_port = free_port()
        server = self.ae.start_server(("127.0.0.1", self.dicom_port), block=False,
                                      evt_handlers=[(evt.EVT_C_FIND, self.answer)])
        assert server is not None  # not blocking: the server runs in its own thread
        self.server = server

    def answer(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        if query.QueryRetrieveLevel == "STUDY":
            first, _, last = str(query.StudyDate).partition("-")
            matches = [uid for uid, day in self.held.items()
                       if not first or first <= day <= (last or first)]
        else:
            matches = [query.StudyInstanceUID]
        for uid in matches[:self.cap]:
            answer = Dataset()
            answer.QueryRetrieveLevel = query.QueryRetrieveLevel
            answer.StudyInstanceUID = uid
            if query.QueryRetrieveLevel == "SERIES":
                answer.SeriesInstanceUID, answer.Modality = self.series[uid], "CT"
                answer.NumberOfSeriesRelatedInstances = 1
            yield 0xFF00, answer
        yield 0x0000, None


def test_an_archive_that_cuts_silently_at_max_results(any_store: GraphStore) -> None:
    archive = SilentCap(["20240105", "20240105", "20240105", "20240301", "20250611"], cap=2)
    try:
        report = reconcile_target(any_store, parse_target(
            f"127.0.0.1:{archive.dicom_port}", "LINEAGE-TEST", "LINEAGETEST", timeout=10),
            SYSTEM, since=SINCE, window_days=1000, max_results=2)
    finally:
        archive.server.shutdown()
    assert report["incomplete"] == [{"query": "studies dated 2024-01-05",
                                     "why": "2 answers, as many as --max-results"}]
    assert report["studies"] == 4  # the cap of that day, and the two other days


def dicomweb(orthanc: OrthancServer) -> str:
    return f"{orthanc.url}/dicom-web"


@capped
def test_a_capped_orthanc_over_dicomweb_given_its_cap(any_store: GraphStore,
                                                      orthanc: OrthancServer,
                                                      tmp_path: Path) -> None:
    held = upload(orthanc, tmp_path, "20240105", "20240220", "20250611", "20250612", "20250613")
    trusting = reconcile_url(any_store, dicomweb(orthanc), SYSTEM)
    assert trusting["pacs_series"] == CAP + 1  # what Orthanc sends, the offset whatever it is
    report = reconcile_url(any_store, dicomweb(orthanc), SYSTEM, max_results=CAP, since=SINCE)
    assert report["incomplete"] == []
    assert sorted(u["key"] for u in report["uncataloged"]) == sorted(
        f"series:{h.series_uid}" for h in held)


@capped
def test_a_day_beyond_the_cap_over_dicomweb_is_incomplete_and_not_swept(
        any_store: GraphStore, orthanc: OrthancServer, tmp_path: Path) -> None:
    held = upload(orthanc, tmp_path, "20240105", "20240105", "20240105", "20250611")
    ingest(any_store, observed(held, SYSTEM, target(orthanc)), "test")  # the graph knows all 4
    with pytest.raises(UserError) as refused:
        reconcile_url(any_store, dicomweb(orthanc), SYSTEM, sweep=True, max_results=CAP,
                      since=SINCE)
    assert "not swept" in str(refused.value) and "studies dated 2024-01-05" in str(refused.value)
    copies = [any_store.get_node(f"object:{SYSTEM}:{h.series_uid}") for h in held]
    assert all(c is not None and "disposed_at" not in c.properties for c in copies)
    report = reconcile_url(any_store, dicomweb(orthanc), SYSTEM, max_results=CAP, since=SINCE)
    assert [entry["query"] for entry in report["incomplete"]] == ["studies dated 2024-01-05"]
    assert report["incomplete"][0]["why"] == f"{CAP + 1} answers, as many as --max-results"


def test_a_dicomweb_server_that_ignores_the_offset_is_incomplete(any_store: GraphStore) -> None:
    """Every page the same three studies: listed once, and the listing reported as cut (paging
    to the first empty page would otherwise never end)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    studies = [{"0020000D": {"vr": "UI", "Value": [generate_uid()]}} for _ in range(3)]

    class SamePage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(studies if self.path.startswith("/studies?") else []).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SamePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = reconcile_url(any_store, f"http://127.0.0.1:{server.server_port}", SYSTEM)
    finally:
        server.shutdown()
    assert report["incomplete"] == [{
        "query": "studies, every date",
        "why": "the archive sent the same studies again past the first page (it ignores "
               "offset) after 3 answers"}]
