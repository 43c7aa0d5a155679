"""A disk that fills while the engine writes its own SQLite files — the local store, a
connector's state — stops the command with one line naming the file (exit 2), and what was
stored before stays whole; a listener whose inbox fills refuses what it cannot keep and goes
on once there is room. Real files on a real, small filesystem (tmpfs)."""

from __future__ import annotations

import errno
import json
import os
import queue
import socket
import threading
import time
from pathlib import Path

import hl7
import pytest
from hl7.client import MLLPClient

from connectors.hl7 import Hl7Source
from connectors.inbox import Inbox
from connectors.mllp import Hl7Listener
from connectors.patients import current_studies
from lineage.identity import patient_key
from lineage.stores import LocalStore
from tests.small_disk import small_filesystem
from tests.test_atna import FIXTURES as ATNA_FIXTURES
from tests.test_atna import Running, logger_with, wait_for, with_estate
from tests.test_cli import assert_one_line_error, lineage
from tests.test_hl7 import msa, numbered
from tests.test_storage_events import KEY, s3

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "estate.yaml"
SECRET = b"h" * 32


def _events(path: Path, count: int) -> Path:
    """`count` S3 creations, each of its own series (a copy each)."""
    path.write_text(json.dumps({"Records": [
        s3("ObjectCreated:Put", KEY.replace("1.2.3.4", f"1.2.3.{n}").format(f"i{n}"),
           "2024-03-01T12:00:00Z", f"{n:08x}") for n in range(count)]}), encoding="utf-8")
    return path


def test_a_local_store_whose_disk_fills_keeps_what_it_stored(tmp_path: Path) -> None:
    events = _events(tmp_path / "events.json", 3000)
    with small_filesystem(tmp_path / "small", "256k") as small:
        store = str(small / "lineage.db")
        first = lineage("--store", store, "ingest", "estate", str(EXAMPLE), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        full = lineage("--store", store, "ingest", "storage-events", str(events), "--provider",
                       "s3", "--state", str(tmp_path / "events.state"), cwd=tmp_path)
        assert_one_line_error(full, f"cannot write local store {store}: database or disk is "
                              "full (SQLITE_FULL); what was being written was undone")
        stats = lineage("--store", store, "stats", "--json", cwd=tmp_path)
        assert stats.returncode == 0, stats.stderr
        counts = json.loads(stats.stdout)
    assert counts["nodes"]["System"] >= 6  # the estate stored before is whole
    copies = counts["nodes"].get("ArchiveObject", 0)
    assert 0 <= copies < 3000  # the batches committed before the disk filled, not the rest
    assert counts["edges"].get("STORED_IN", 0) == copies  # no copy half-written


def test_a_connectors_state_whose_disk_fills_stops_the_run(tmp_path: Path) -> None:
    events = _events(tmp_path / "events.json", 3000)
    with small_filesystem(tmp_path / "small", "128k") as small:
        state = small / "events.state"
        full = lineage("--store", str(tmp_path / "lineage.db"), "ingest", "storage-events",
                       str(events), "--provider", "s3", "--state", str(state), cwd=tmp_path)
        assert_one_line_error(full, f"cannot write storage-event state {state}: database or "
                              "disk is full (SQLITE_FULL)")
    again = lineage("--store", str(tmp_path / "lineage.db"), "ingest", "storage-events",
                    str(events), "--provider", "s3", "--state", str(tmp_path / "state"),
                    "--json", cwd=tmp_path)  # the same events, the state on a disk with room
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["nodes_by_kind"]["ArchiveObject"] == 3000


def _fill(folder: Path) -> Path:
    """A file that takes every free block of `folder`'s filesystem."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(descriptor, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def test_an_mllp_inbox_whose_disk_fills_refuses_with_ae_and_resumes_once_freed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    messages = numbered(5)
    with small_filesystem(tmp_path / "small", "256k") as small, \
            LocalStore(tmp_path / "lineage.db") as store:
        inbox = Inbox(small / "hl7.inbox")
        listener = Hl7Listener(store, Hl7Source("EHR", SECRET), inbox, current_studies(store),
                               retry_seconds=0.2)
        # what a listener stopped before its worker ingested them leaves pending
        assert all(msa(listener.accept("peer", text))[1] == "AA" for text in messages[:3])
        filler = _fill(small)
        ports: queue.Queue[int] = queue.Queue()
        serving = threading.Thread(target=listener.serve, args=("127.0.0.1", 0, ports.put))
        serving.start()
        try:
            port = ports.get(timeout=30)  # listening, though nothing can be marked ingested
            with MLLPClient("127.0.0.1", port) as client:
                refused = hl7.parse(client.send_message(messages[3]).decode())
                assert str(refused.segment("MSA")[1]) == "AE"
                assert "could not store the message" in str(refused.segment("MSA")[3])
                assert inbox.counts()["pending"] == 3
                filler.unlink()  # room again: the worker goes on, the sender sends again
                accepted = hl7.parse(client.send_message(messages[3]).decode())
                assert str(accepted.segment("MSA")[1]) == "AA"
                accepted = hl7.parse(client.send_message(messages[4]).decode())
                assert str(accepted.segment("MSA")[1]) == "AA"
            for _ in range(300):
                if inbox.counts()["done"] == 5:
                    break
                time.sleep(0.1)
        finally:
            listener.stop()
            serving.join(timeout=60)
        assert not serving.is_alive()
        assert inbox.counts() == {"pending": 0, "done": 5, "dead_letters": 0}
        inbox.close()
        stored = {n.key for n in store.iter_nodes() if n.key.startswith("patient:")}
    assert stored == {patient_key("GENHOSP", f"MRN{i:05d}", SECRET) for i in range(5)}
    said = "\n".join(record.getMessage() for record in caplog.records)
    assert f"cannot write inbox {small / 'hl7.inbox'}: database or disk is full" in said
    assert "MRN0000" not in said and "Traceback" not in said


def test_an_atna_inbox_whose_disk_fills_counts_what_it_lost_and_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from rfc5424logging import FRAMING_OCTET_COUNTING, Rfc5424SysLogHandler

    with small_filesystem(tmp_path / "small", "256k") as small, \
            LocalStore(tmp_path / "lineage.db") as store:
        with_estate(store, tmp_path)
        server = Running(store, tmp_path, inbox=small / "atna.inbox")

        def send(name: str) -> None:  # a new connection, as a sender reconnecting
            handler = Rfc5424SysLogHandler(
                ("127.0.0.1", server.ports["tcp"]), socktype=socket.SOCK_STREAM,
                framing=FRAMING_OCTET_COUNTING, appname="VNA")
            logger_with(handler, name).info((ATNA_FIXTURES / f"{name}.xml").read_text())
            handler.close()

        try:
            send("cstore-into-vna")
            wait_for(lambda: server.inbox.counts()["done"] == 1)
            filler = _fill(small)
            send("move-to-dr")
            wait_for(lambda: server.listener.counts.not_stored == 1)
            filler.unlink()
            send("move-to-dr")  # sent again once there is room
            wait_for(lambda: server.inbox.counts()["done"] == 2)
        finally:
            server.stop()
        counts = server.listener.counts
        assert (counts.received, counts.stored, counts.not_stored) == (3, 2, 1)
        assert store.get_node("object:DR-VAULT:2.25.1001") is not None
    said = [record.getMessage() for record in caplog.records]
    assert any(f"lost (1 so far): cannot write inbox {small / 'atna.inbox'}: database or disk "
               "is full" in line for line in said), said
    assert any("closed: the inbox cannot be written" in line for line in said), said
    assert not [record for record in caplog.records if record.exc_info], said  # no traceback
