"""The Orthanc change-feed follower against a real Orthanc 1.10 (Debian package)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.dicom_records import DicomSource
from connectors.http import JsonSource
from connectors.orthanc import OrthancFollower, dataset_from_simplified, orthanc_time
from connectors.orthanc_state import FollowerState
from lineage.errors import SourceUnavailableError, StoreUnavailableError
from lineage.identity import patient_key
from lineage.ingest import ingest
from lineage.pipeline import RunReport
from lineage.stores import GraphStore, LocalStore
from tests import dicom_factory as make
from tests.dicom_factory import Chain
from tools.local_process import free_port
from tools.orthanc_local import OrthancServer

pytestmark = pytest.mark.orthanc
SECRET = b"o" * 32
SYSTEM = "PACS-ORTHANC"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return make.write_chain(tmp_path / "dicom")


@pytest.fixture
def state(tmp_path: Path, orthanc: OrthancServer) -> Iterator[FollowerState]:
    follower_state = FollowerState(tmp_path / "follower.state", orthanc.url)
    yield follower_state
    follower_state.close()


def follow_once(orthanc: OrthancServer, store: GraphStore, state: FollowerState) -> RunReport:
    client = JsonSource(orthanc.url, name="Orthanc", attempts=2, backoff=0.01)
    follower = OrthancFollower(client, DicomSource(SYSTEM, SECRET), state, store, page_size=7)
    try:
        return ingest(store, follower.records(), f"orthanc:{SYSTEM}")
    finally:
        client.close()


def upload(orthanc: OrthancServer, paths: list[Path]) -> list[dict[str, str]]:
    return [orthanc.upload(path) for path in paths]


def settled(orthanc: OrthancServer, series: int, limit: float = 60.0) -> int:
    """Wait until Orthanc has logged every uploaded series, its study and its patient as stable
    (StableSeries/StableStudy/StablePatient come StableAge after the last upload, later on a busy
    machine) and the log then stays still for a second; its last change."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        log = httpx.get(f"{orthanc.url}/changes", params={"since": 0, "limit": 10000}).json()
        kinds = [change["ChangeType"] for change in log["Changes"]]
        if (kinds.count("StableSeries") >= series and "StableStudy" in kinds
                and "StablePatient" in kinds):
            time.sleep(1.0)
            again = httpx.get(f"{orthanc.url}/changes", params={"last": ""}).json()["Last"]
            if int(again) == int(log["Last"]):
                return int(log["Last"])
        time.sleep(0.2)
    raise AssertionError(f"Orthanc did not log its uploads as stable in {limit} s")


def copy(store: GraphStore, series_uid: str) -> dict[str, Any]:
    node = store.get_node(f"object:{SYSTEM}:{series_uid}")
    assert node is not None, f"no copy of {series_uid}"
    return node.properties


def test_follower_ingests_copies_and_lineage(
    any_store: GraphStore, orthanc: OrthancServer, state: FollowerState, chain: Chain
) -> None:
    upload(orthanc, chain.files["ct"] + chain.files["lossy"] + chain.files["seg"])
    last = settled(orthanc, series=3)  # the Stable* changes, logged after StableAge, too

    report = follow_once(orthanc, any_store, state)

    assert report.rejected == []
    ct = copy(any_store, chain.ct_series)
    assert ct["instance_count"] == 3 and ct["bytes"] == sum(
        p.stat().st_size for p in chain.files["ct"])
    assert str(ct["created_at"]).startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert copy(any_store, chain.lossy_series)["lossy_instance_count"] == 3
    lossy = any_store.edges(f"series:{chain.lossy_series}", "out", ["DERIVED_FROM"])  # type: ignore[list-item]
    assert [(e.dst, e.properties["kind"]) for e in lossy] == [
        (f"series:{chain.ct_series}", "lossy_compression")]
    patient = patient_key(make.ISSUER, make.PATIENT_ID, SECRET)
    assert any_store.neighbours(f"study:{chain.study}") == [patient]
    assert state.checkpoint == last

    again = follow_once(orthanc, any_store, state)
    assert again.records == 0  # resumed at the checkpoint: nothing to do


def test_deleted_series_disposes_the_copy_without_deleting_it(
    any_store: GraphStore, orthanc: OrthancServer, state: FollowerState, chain: Chain
) -> None:
    [first, *_] = upload(orthanc, chain.files["ct"])
    upload(orthanc, chain.files["seg"])
    follow_once(orthanc, any_store, state)
    assert "disposed_at" not in copy(any_store, chain.ct_series)

    httpx.delete(f"{orthanc.url}/series/{first['ParentSeries']}").raise_for_status()
    follow_once(orthanc, any_store, state)

    disposed = copy(any_store, chain.ct_series)
    assert str(disposed["disposed_at"]).startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert disposed["instance_count"] == 3
    stored_in = any_store.get_edge(f"object:{SYSTEM}:{chain.ct_series}", "STORED_IN",
                                   f"system:{SYSTEM}")
    assert stored_in is not None and stored_in.properties["valid_to"] == disposed["disposed_at"]
    assert "disposed_at" not in copy(any_store, chain.seg_series)


def test_deleted_instance_updates_the_copy(
    any_store: GraphStore, orthanc: OrthancServer, state: FollowerState, chain: Chain
) -> None:
    uploaded = upload(orthanc, chain.files["ct"])
    follow_once(orthanc, any_store, state)
    httpx.delete(f"{orthanc.url}/instances/{uploaded[0]['ID']}").raise_for_status()
    follow_once(orthanc, any_store, state)
    assert copy(any_store, chain.ct_series)["instance_count"] == 2


def test_anonymized_copy_is_derived_from_its_source(
    any_store: GraphStore, orthanc: OrthancServer, state: FollowerState, chain: Chain
) -> None:
    [first, *_] = upload(orthanc, chain.files["ct"])
    follow_once(orthanc, any_store, state)
    anonymized = httpx.post(f"{orthanc.url}/series/{first['ParentSeries']}/anonymize",
                            json={}, timeout=30).json()
    new_series_uid = httpx.get(f"{orthanc.url}/series/{anonymized['ID']}").json()[
        "MainDicomTags"]["SeriesInstanceUID"]

    follow_once(orthanc, any_store, state)

    edges = any_store.edges(f"series:{new_series_uid}", "out", ["DERIVED_FROM"])  # type: ignore[list-item]
    assert [(e.dst, e.properties["kind"]) for e in edges] == [
        (f"series:{chain.ct_series}", "anonymization")]
    assert copy(any_store, new_series_uid)["instance_count"] == 3


def test_checkpoint_never_passes_what_the_store_holds(
    tmp_path: Path, orthanc: OrthancServer, state: FollowerState, chain: Chain
) -> None:
    upload(orthanc, chain.files["ct"])
    path = tmp_path / "locked.db"
    store = LocalStore(path, busy_timeout=0.2)
    store.open()
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the store
    with pytest.raises(StoreUnavailableError, match="locked"):
        follow_once(orthanc, store, state)
    assert state.checkpoint == 0
    blocker.rollback()
    blocker.close()

    follow_once(orthanc, store, state)
    assert copy(store, chain.ct_series)["instance_count"] == 3
    assert state.checkpoint > 0
    store.close()


def lineage_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    return subprocess.Popen([sys.executable, "-m", "lineage", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def copies_in(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    with LocalStore(path) as store:
        return {n.key: int(n.properties.get("instance_count", 0))  # type: ignore[arg-type]
                for n in store.iter_nodes() if n.key.startswith("object:")}


def test_follower_killed_and_restarted_loses_and_repeats_nothing(
    tmp_path: Path, orthanc: OrthancServer, chain: Chain
) -> None:
    args = ["--store", "lineage.db", "ingest", "orthanc", orthanc.url, "--system", SYSTEM,
            "--state", "follower.state", "--json"]
    upload(orthanc, chain.files["ct"])
    follower = lineage_cli(*args, "--follow", "--poll", "0.2", cwd=tmp_path)
    wait_for(lambda: copies_in(tmp_path / "lineage.db").get(f"object:{SYSTEM}:{chain.ct_series}")
             == 3)
    follower.send_signal(signal.SIGKILL)  # no clean shutdown
    follower.wait()
    checkpoint = FollowerState(tmp_path / "follower.state", orthanc.url).checkpoint
    assert checkpoint > 0

    upload(orthanc, chain.files["lossy"] + chain.files["seg"])  # while the follower is down
    restarted = lineage_cli(*args, cwd=tmp_path)
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    report = json.loads(out)

    assert report["orthanc"]["checkpoint"] > checkpoint
    assert report["orthanc"]["changes"] == report["orthanc"]["checkpoint"] - checkpoint
    assert copies_in(tmp_path / "lineage.db") == {
        f"object:{SYSTEM}:{chain.ct_series}": 3,
        f"object:{SYSTEM}:{chain.lossy_series}": 3,
        f"object:{SYSTEM}:{chain.seg_series}": 1,
    }
    assert report["conflicts"] == []


def test_orthanc_down_is_retried_then_a_clear_error(state: FollowerState) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = JsonSource(url, name="Orthanc", attempts=3, backoff=0.01)
    with pytest.raises(SourceUnavailableError, match=f"Orthanc at {url} failed 3 times"):
        client.get("/changes")


def test_http_500_is_retried_with_back_off() -> None:
    calls: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        return httpx.Response(500 if len(calls) < 3 else 200, json={"Changes": []})

    client = JsonSource("http://orthanc.test", name="Orthanc", attempts=4, backoff=0.05,
                        transport=httpx.MockTransport(answer))
    assert client.get("/changes") == {"Changes": []}
    assert len(calls) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # the wait doubles

    failing = JsonSource("http://orthanc.test", name="Orthanc", attempts=2, backoff=0.0,
                         transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        failing.get("/changes")


def test_simplified_tags_become_a_dataset() -> None:
    ds = dataset_from_simplified({
        "ImageType": "DERIVED\\PRIMARY", "PatientName": "DOE^JANE", "Rows": "512",
        "SourceImageSequence": [{"ReferencedSOPInstanceUID": "1.2.3"}],
    })
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == "1.2.3"
    assert "PatientName" not in ds and "Rows" not in ds  # only what lineage reads
    assert orthanc_time("20261128T082507") == "2026-11-28T08:25:07Z"
    assert orthanc_time("garbage") is None
