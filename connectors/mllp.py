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
import hashlib
import logging
import re
import signal
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.hl7 import Hl7Source, check_supported, message_records
from connectors.hl7_message import HL7Error, Message, ack, frame, parse, unframe
from connectors.patients import StudiesOf, current_studies
from lineage.errors import StoreError, UserError
from lineage.ingest import ingest
from lineage.pipeline import Commit, Record, Rejected, RunReport, build_record, describe_error
from lineage.stores import GraphStore
from lineage.timefmt import format_timestamp, utc_now

log = logging.getLogger("lineage.connectors.mllp")

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, peer TEXT NOT NULL,
    control_id TEXT NOT NULL, message TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    outcome TEXT);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (done, seq);
"""
# Columns added after the first inbox files were written: added to those when opened.
LATER_COLUMNS = {"reason": "TEXT", "message_sha256": "TEXT"}
INGESTED, DEAD = "ingested", "dead letter"


class Inbox:
    """Accepted messages, durable before they are acknowledged. A message body is kept only
    until it is ingested (then its SHA-256, control ID and outcome remain); a message that could
    not be ingested is kept as a dead letter with the reason."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA secure_delete = ON")  # a dropped body is overwritten, not freed
        self.db.create_function("sha256_hex", 1, _sha256, deterministic=True)
        self.db.executescript(SCHEMA)
        present = {row[1] for row in self.db.execute("PRAGMA table_info(inbox)")}
        for name, kind in LATER_COLUMNS.items():
            if name not in present:
                self.db.execute(f"ALTER TABLE inbox ADD COLUMN {name} {kind}")
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

    def finish(self, seq: int, outcome: str, reason: str | None = None) -> None:
        """Mark a message done; an ingested one keeps no body, only its hash."""
        keep_body = outcome != INGESTED
        with self.lock:
            self.db.execute(
                "UPDATE inbox SET done = 1, outcome = ?, reason = ?, "
                "message_sha256 = sha256_hex(message), "
                "message = CASE WHEN ? THEN message ELSE '' END WHERE seq = ?",
                (outcome, reason, keep_body, seq))

    def purge_dead_letters(self, older_than: str) -> int:
        """Drop the bodies of dead letters received before `older_than` (a stored timestamp),
        keeping their hash, control ID and reason; returns how many."""
        with self.lock:
            cursor = self.db.execute(
                "UPDATE inbox SET message = '' WHERE outcome = ? AND received_at < ? "
                "AND message != ''", (DEAD, older_than))
            return cursor.rowcount

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT seq, received_at, peer, control_id, reason FROM inbox "
                "WHERE outcome = ? ORDER BY seq", (DEAD,))
            return [{"seq": seq, "received_at": at, "peer": peer, "control_id": control_id,
                     "reason": reason} for seq, at, peer, control_id, reason in rows]

    def counts(self) -> dict[str, int]:
        with self.lock:
            rows = self.db.execute(
                "SELECT done, outcome = ?, count(*) FROM inbox GROUP BY 1, 2", (DEAD,))
            found = {(done, bool(dead)): count for done, dead, count in rows}
        return {"pending": found.get((0, False), 0),
                "done": found.get((1, False), 0) + found.get((1, True), 0),
                "dead_letters": found.get((1, True), 0)}

    def close(self) -> None:
        self.db.close()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def check(text: str, source: Hl7Source) -> tuple[Message | None, str, str]:
    """(message, ACK code, reason) for one received message, before anything is stored: AR for
    what is not HL7 or of a type the engine does not take, AE for a message whose content cannot
    be used (its records are built in full, as the ingest will build them), else AA."""
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
    built = build_record(message_records(text, source, "message", lambda patient: []))
    if isinstance(built, Rejected):
        return message, "AE", built.reason
    return message, "AA", ""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one peer may cost the listener: a frame's size, the silence allowed inside a
    connection, and how many connections at once."""

    max_message_bytes: int = 1024 * 1024
    idle_seconds: float = 60.0
    max_connections: int = 64
    dead_letter_days: float = 30.0  # a dead letter's body (patient data) is kept this long


class Hl7Listener:
    """`Hl7Listener(store, source, inbox, studies_of).serve(host, port)` until `stop()`."""

    def __init__(self, store: GraphStore, source: Hl7Source, inbox: Inbox,
                 studies_of: StudiesOf, batch_size: int = 500, retry_seconds: float = 5.0,
                 limits: Limits | None = None):
        self.limits = limits or Limits()
        self.connections = 0
        self.store = store
        self.source = source
        self.inbox = inbox
        self.studies_of = studies_of
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.report = RunReport(source=f"hl7:{source.system} (MLLP)")
        self._stop = threading.Event()
        self._wake = threading.Event()

    # -- network ---------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        limits = self.limits
        if self.connections >= limits.max_connections:
            log.warning("MLLP connection from %s refused: %d connections already", peer,
                        self.connections)
            writer.close()
            return
        self.connections += 1
        buffer = bytearray()
        try:
            while not reader.at_eof():
                chunk = await asyncio.wait_for(reader.read(65536), limits.idle_seconds)
                if not chunk:
                    break
                buffer.extend(chunk)
                for payload in unframe(buffer):
                    writer.write(frame(self.accept(peer, payload.decode("utf-8", "replace"))))
                    await writer.drain()
                if len(buffer) > limits.max_message_bytes:
                    log.warning("MLLP message from %s over %d bytes: refused, connection closed",
                                peer, limits.max_message_bytes)
                    writer.write(frame(ack(None, "AR", "the message is over "
                                           f"{limits.max_message_bytes} bytes")))
                    await writer.drain()
                    break
        except TimeoutError:
            log.warning("MLLP connection from %s closed: silent for %g s", peer,
                        limits.idle_seconds)
        except ConnectionError:
            pass
        finally:
            self.connections -= 1
            writer.close()

    def accept(self, peer: str, text: str) -> str:
        """The ACK for one received message; an accepted one is stored in the inbox first."""
        message, code, reason = check(text, self.source)
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
        """Ingest a page of what the inbox holds; returns how many messages it finished. A
        message that cannot be ingested becomes a dead letter with the reason; the store being
        unavailable raises (the page stays pending for the next try)."""
        rows = self.inbox.pending(self.batch_size)
        if not rows:
            return 0
        report = ingest(self.store, self._records(rows), self.report.source,
                        batch_size=self.batch_size)
        dead = {seq: rejected.reason for rejected in report.rejected
                for seq in _sequence_numbers(rejected.location)}
        for seq, _, _ in rows:
            if seq in dead:
                log.warning("HL7 message #%d kept as a dead letter: %s", seq, dead[seq])
                self.inbox.finish(seq, DEAD, dead[seq])
            else:
                self.inbox.finish(seq, INGESTED)
        self.report.records += report.records
        self.report.written.add(report.written)
        self.report.rejected += report.rejected
        return len(rows)

    def drain_all(self) -> None:
        """Drain until the inbox is empty. The worker never dies: an unavailable store pauses
        it (then it tries again), and a page that fails for any other reason is ingested again
        one message at a time, the failing message kept as a dead letter. Dead letters older
        than `limits.dead_letter_days` lose their bodies."""
        cutoff = datetime.now(UTC) - timedelta(days=self.limits.dead_letter_days)
        purged = self.inbox.purge_dead_letters(format_timestamp(cutoff))
        if purged:
            log.info("dropped the bodies of %d dead letters older than %g days", purged,
                     self.limits.dead_letter_days)
        while True:
            try:
                if not self.drain():
                    return
            except StoreError as exc:
                log.error("HL7 ingest paused, the store failed: %s", exc)
                if self._stop.wait(self.retry_seconds):
                    return
            except Exception as exc:  # logged by kind only: a message may quote patient data
                log.error("HL7 ingest of a page failed (%s); trying its messages one by one\n%s",
                          type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
                self._drain_one_by_one()

    def _drain_one_by_one(self) -> None:
        for seq, peer, text in self.inbox.pending(self.batch_size):
            try:
                ingest(self.store, self._records([(seq, peer, text)]), self.report.source)
            except StoreError:
                raise
            except Exception as exc:
                self.inbox.finish(seq, DEAD, describe_error(exc))
            else:
                self.inbox.finish(seq, INGESTED)

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self.drain_all()

    def serve(self, host: str, port: int, ready: Callable[[int], None] = lambda _: None) -> None:
        """Serve until `stop()`; the ingest worker runs beside the network loop."""
        self.drain_all()  # what a previous run accepted but did not ingest
        worker = threading.Thread(target=self._work, name="hl7-ingest", daemon=True)
        worker.start()
        try:
            asyncio.run(self._serve(host, port, ready))
        finally:
            self._stop.set()
            worker.join()
            self.drain_all()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


def _sequence_numbers(location: str) -> list[int]:
    """Inbox sequence numbers named in a rejection's location (`mllp:peer#12`, or several)."""
    return [int(seq) for seq in re.findall(r"#(\d+)", location)]


def listen(store: GraphStore, secret: bytes, system: str, host: str, port: int,
           inbox_path: Path, ready: Callable[[int], None], limits: Limits | None = None
           ) -> dict[str, Any]:
    """`lineage listen hl7`: serve until SIGTERM or SIGINT; returns the run's summary."""
    messages = Inbox(inbox_path)
    listener = Hl7Listener(store, Hl7Source(system, secret), messages, current_studies(store),
                           limits=limits)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: listener.stop())
    try:
        listener.serve(host, port, ready)
    finally:
        counts = messages.counts()
        messages.close()
    return {"system": system, "inbox": str(inbox_path), **counts, **listener.report.as_dict()}


def dead_letters(inbox_path: Path) -> list[dict[str, Any]]:
    """The messages of an inbox that were accepted but could not be ingested, with reasons."""
    if not inbox_path.exists():
        raise UserError(f"no inbox at {inbox_path}")
    messages = Inbox(inbox_path)
    try:
        return messages.dead_letters()
    finally:
        messages.close()
