"""A real MLLP listener for HL7 v2: persist, then acknowledge, then ingest (connectors.inbox).

Each framed message is parsed and checked first: a message that is not HL7 or of a type the
engine does not take is answered AR with the reason, one whose content is wrong (no patient
identifier, no accession) AE. A good one is written to the inbox (SQLite, synchronous=FULL)
before the AA goes back, so an accepted message survives a crash. A worker ingests the inbox in
arrival order, each message through the same code as `lineage ingest hl7`, and marks it done
after the store committed; at start-up it resumes with what is left.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.hl7 import Hl7Source, check_supported, message_records
from connectors.hl7_message import HL7Error, Message, ack, frame, parse, unframe
from connectors.inbox import Inbox, InboxWorker, Row
from connectors.inbox import dead_letters as inbox_dead_letters
from connectors.patients import StudiesOf, current_studies
from lineage.errors import StoreError
from lineage.pipeline import Commit, Record, Rejected, RunReport, build_record
from lineage.stores import GraphStore
from lineage.timefmt import utc_now

log = logging.getLogger("lineage.connectors.mllp")

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


class Hl7Listener(InboxWorker):
    """`Hl7Listener(store, source, inbox, studies_of).serve(host, port)` until `stop()`."""

    kind = "MLLP"

    def __init__(self, store: GraphStore, source: Hl7Source, inbox: Inbox,
                 studies_of: StudiesOf, batch_size: int = 500, retry_seconds: float = 5.0,
                 limits: Limits | None = None):
        self.limits = limits or Limits()
        super().__init__(store, inbox, RunReport(source=f"hl7:{source.system} (MLLP)"),
                         batch_size, retry_seconds, self.limits.dead_letter_days)
        self.source = source
        self.studies_of = studies_of

    # -- network ---------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        limits = self.limits
        if not self.admitted(peer, writer, limits.max_connections):
            return
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
            except (sqlite3.Error, StoreError) as exc:  # the sender keeps it and sends again
                log.error("MLLP message from %s refused (AE): %s", peer, exc)
                code, reason = "AE", "could not store the message; send it again later"
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
    def records(self, rows: list[Row]) -> Iterator[Record]:
        """Lazily: a merge reads the store after the pipeline wrote what came before it."""
        for seq, peer, text in rows:
            if "ADT^A40" in text.split("\r", 1)[0]:
                yield Commit(lambda: None)
            yield message_records(text, self.source, f"mllp:{peer}#{seq}", self.studies_of)

    def serve(self, host: str, port: int, ready: Callable[[int], None] = lambda _: None) -> None:
        """Serve until `stop()`; the ingest worker runs beside the network loop."""
        worker = self.run_worker()
        try:
            asyncio.run(self._serve(host, port, ready))
        finally:
            self._stop.set()
            worker.join()
            self.drain_all()


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
    return inbox_dead_letters(inbox_path)
