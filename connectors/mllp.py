"""A real MLLP listener for HL7 v2: persist, then acknowledge, then ingest.

Each framed message is parsed and checked first: a message that is not HL7 or of a type the
engine does not take is answered AR with the reason, one whose content is wrong (no patient
identifier, no accession) AE. A good one is written to the inbox (SQLite, synchronous=FULL)
before the AA goes back, so an accepted message survives a crash. A worker ingests the inbox in
arrival order, each message through the same code as `lineage ingest hl7`, and marks it done
after the store committed; at start-up it resumes with what is left.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from connectors.hl7 import Hl7Source, check_supported, message_records
from connectors.hl7_message import HL7Error, Message, ack, frame, parse, unframe
from connectors.patients import StudiesOf
from lineage.pipeline import Commit, Pipeline, Record, RunReport
from lineage.stores import GraphStore
from lineage.timefmt import utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, peer TEXT NOT NULL,
    control_id TEXT NOT NULL, message TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    outcome TEXT);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (done, seq);
"""


class Inbox:
    """Accepted messages, durable before they are acknowledged."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def add(self, peer: str, control_id: str, message: str) -> int:
        with self.lock:
            cursor = self.db.execute(
                "INSERT INTO inbox (received_at, peer, control_id, message) VALUES (?, ?, ?, ?)",
                (utc_now(), peer, control_id, message))
            return int(cursor.lastrowid or 0)

    def pending(self, limit: int = 500) -> list[tuple[int, str, str]]:
        with self.lock:
            return list(self.db.execute(
                "SELECT seq, peer, message FROM inbox WHERE done = 0 ORDER BY seq LIMIT ?",
                (limit,)))

    def finish(self, seq: int, outcome: str) -> None:
        with self.lock:
            self.db.execute("UPDATE inbox SET done = 1, outcome = ? WHERE seq = ?", (outcome, seq))

    def counts(self) -> dict[str, int]:
        with self.lock:
            rows = self.db.execute("SELECT done, count(*) FROM inbox GROUP BY done")
            found = dict(rows)
        return {"pending": found.get(0, 0), "done": found.get(1, 0)}

    def close(self) -> None:
        self.db.close()


def check(text: str) -> tuple[Message | None, str, str]:
    """(message, ACK code, reason) for one received message, before anything is stored."""
    try:
        message = parse(text)
    except HL7Error as exc:
        return None, "AR", str(exc)
    try:
        check_supported(message)
    except HL7Error as exc:
        return message, "AR", str(exc)
    if message.segment("PID") is None or not message.field("PID", 3):
        return message, "AE", "no patient identifier (PID-3)"
    return message, "AA", ""


class Hl7Listener:
    """`Hl7Listener(store, source, inbox).serve(host, port)` until `stop()`."""

    def __init__(self, store: GraphStore, source: Hl7Source, inbox: Inbox,
                 studies_of: StudiesOf, batch_size: int = 500,
                 after: Callable[[RunReport], object] = lambda report: None):
        self.after = after
        self.store = store
        self.source = source
        self.inbox = inbox
        self.studies_of = studies_of
        self.batch_size = batch_size
        self.report = RunReport(source=f"hl7:{source.system} (MLLP)")
        self._stop = threading.Event()
        self._wake = threading.Event()

    # -- network ---------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        buffer = bytearray()
        try:
            while not reader.at_eof():
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buffer.extend(chunk)
                for payload in unframe(buffer):
                    writer.write(frame(self._accept(peer, payload.decode("utf-8", "replace"))))
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _accept(self, peer: str, text: str) -> str:
        message, code, reason = check(text)
        if code == "AA" and message is not None:
            try:
                self.inbox.add(peer, message.control_id, text)
            except sqlite3.Error as exc:
                code, reason = "AE", f"could not store the message: {exc}"
            else:
                self._wake.set()
        return ack(message, code, reason, now=utc_now().replace("-", "").replace(":", "")[:14])

    async def _serve(self, host: str, port: int, ready: Callable[[int], None]) -> None:
        server = await asyncio.start_server(self._client, host, port)
        ready(server.sockets[0].getsockname()[1])
        async with server:
            while not self._stop.is_set():
                await asyncio.sleep(0.2)

    # -- ingestion -------------------------------------------------------------------------
    def _records(self, rows: list[tuple[int, str, str]]) -> Iterator[Record]:
        """Lazily: a merge reads the store after the pipeline wrote what came before it."""
        for seq, peer, text in rows:
            if "ADT^A40" in text.split("\r", 1)[0]:
                yield Commit(lambda: None)
            yield message_records(text, self.source, f"mllp:{peer}#{seq}", self.studies_of)

    def drain(self) -> int:
        """Ingest what the inbox holds; returns how many messages were ingested."""
        rows = self.inbox.pending(self.batch_size)
        if not rows:
            return 0
        pipeline = Pipeline(self.store, self.batch_size)
        report = pipeline.run(self._records(rows), self.report.source)
        self.after(report)
        for seq, _, _ in rows:
            self.inbox.finish(seq, "ingested")
        self.report.records += report.records
        self.report.written.add(report.written)
        self.report.rejected += report.rejected
        self.report.touched |= report.touched
        return len(rows)

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            while self.drain():
                pass

    def serve(self, host: str, port: int, ready: Callable[[int], None] = lambda _: None) -> None:
        """Serve until `stop()`; the ingest worker runs beside the network loop."""
        while self.drain():
            pass  # what a previous run accepted but did not ingest
        worker = threading.Thread(target=self._work, name="hl7-ingest", daemon=True)
        worker.start()
        try:
            asyncio.run(self._serve(host, port, ready))
        finally:
            self._stop.set()
            worker.join()
            while self.drain():
                pass

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
