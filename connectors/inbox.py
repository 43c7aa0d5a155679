"""A durable inbox of received messages and the worker that ingests it: what the listeners
(MLLP for HL7 v2, syslog for ATNA audit messages) share.

A listener checks a message, writes it to the inbox (SQLite, synchronous=FULL) and only then
acknowledges it, so an accepted message survives a crash (even kill -9). The worker ingests the
inbox in arrival order through the ingest service and marks each message done after the store
committed; at start-up it resumes with what is left. A message that cannot be ingested is kept
as a dead letter with the reason; the worker never stops on one message, and an unavailable
store pauses it until the store is back.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lineage.errors import StoreError, UserError
from lineage.ingest import ingest
from lineage.pipeline import Record, RunReport, describe_error
from lineage.sqlite_files import connect
from lineage.stores import GraphStore
from lineage.timefmt import format_timestamp, utc_now

log = logging.getLogger("lineage.connectors.inbox")

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
        self.db = connect(path, "inbox", isolation_level=None, check_same_thread=False)
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


Row = tuple[int, str, str]  # sequence number, peer, message


class InboxWorker:
    """Ingests an inbox: `records(rows)` turns a page of messages into records whose rejection
    locations name each message as `#<seq>`. Subclasses add the network side."""

    kind = "message"

    def __init__(self, store: GraphStore, inbox: Inbox, report: RunReport, batch_size: int = 500,
                 retry_seconds: float = 5.0, dead_letter_days: float = 30.0):
        self.store = store
        self.inbox = inbox
        self.report = report
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.dead_letter_days = dead_letter_days
        self.connections = 0
        self._stop = threading.Event()
        self._wake = threading.Event()

    def records(self, rows: list[Row]) -> Iterator[Record]:
        raise NotImplementedError

    def admitted(self, peer: str, writer: Any, max_connections: int) -> bool:
        """Count a new connection in, unless `max_connections` are served already (then it is
        closed and logged)."""
        if self.connections >= max_connections:
            log.warning("%s connection from %s refused: %d connections already", self.kind,
                        peer, self.connections)
            writer.close()
            return False
        self.connections += 1
        return True

    def drain(self) -> int:
        """Ingest a page of what the inbox holds; returns how many messages it finished. A
        message that cannot be ingested becomes a dead letter with the reason; the store being
        unavailable raises (the page stays pending for the next try)."""
        rows = self.inbox.pending(self.batch_size)
        if not rows:
            return 0
        report = ingest(self.store, self.records(rows), self.report.source,
                        batch_size=self.batch_size)
        dead = {seq: rejected.reason for rejected in report.rejected
                for seq in _sequence_numbers(rejected.location)}
        for seq, _, _ in rows:
            if seq in dead:
                log.warning("%s #%d kept as a dead letter: %s", self.kind, seq, dead[seq])
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
        than `dead_letter_days` lose their bodies."""
        cutoff = datetime.now(UTC) - timedelta(days=self.dead_letter_days)
        purged = self.inbox.purge_dead_letters(format_timestamp(cutoff))
        if purged:
            log.info("dropped the bodies of %d dead letters older than %g days", purged,
                     self.dead_letter_days)
        while True:
            try:
                if not self.drain():
                    return
            except StoreError as exc:  # the store, or the inbox's own disk
                log.error("%s ingest paused, trying again in %g s: %s", self.kind,
                          self.retry_seconds, exc)
                if self._stop.wait(self.retry_seconds):
                    return
            except Exception as exc:  # logged by kind only: a message may quote patient data
                log.error("%s ingest of a page failed (%s); trying its messages one by one\n%s",
                          self.kind, type(exc).__name__,
                          "".join(traceback.format_tb(exc.__traceback__)))
                self._drain_one_by_one()

    def _drain_one_by_one(self) -> None:
        for seq, peer, text in self.inbox.pending(self.batch_size):
            try:
                ingest(self.store, self.records([(seq, peer, text)]), self.report.source)
            except StoreError:
                raise
            except Exception as exc:
                self.inbox.finish(seq, DEAD, describe_error(exc))
            else:
                self.inbox.finish(seq, INGESTED)

    def _work(self) -> None:
        while not self._stop.is_set():
            self.drain_all()
            self._wake.wait(0.5)
            self._wake.clear()

    def run_worker(self) -> threading.Thread:
        """Start the worker thread; it first drains what a previous run left, in order, while
        the listener already accepts (a store or an inbox disk not there yet pauses only the
        worker)."""
        worker = threading.Thread(target=self._work, name=f"{self.kind}-ingest", daemon=True)
        worker.start()
        return worker

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


def _sequence_numbers(location: str) -> list[int]:
    """Inbox sequence numbers named in a rejection's location (`mllp:peer#12`, or several)."""
    return [int(seq) for seq in re.findall(r"#(\d+)", location)]


def dead_letters(inbox_path: Path) -> list[dict[str, Any]]:
    """The messages of an inbox that were accepted but could not be ingested, with reasons."""
    if not inbox_path.exists():
        raise UserError(f"no inbox at {inbox_path}")
    messages = Inbox(inbox_path)
    try:
        return messages.dead_letters()
    finally:
        messages.close()
