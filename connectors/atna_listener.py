"""`lineage listen atna`: a syslog receiver for IHE ATNA audit messages (RFC 5424 messages over
UDP, RFC 5426, one per datagram; over TCP and TLS, RFC 5425/6587, octet-counted, or ended by a
NUL or by a newline after `</AuditMessage>` as BSD-style senders such as Python's
SysLogHandler do).

Persist, then process (connectors.inbox): each complete message is checked (size, its sender's
rate, an `<AuditMessage>` that parses) and written to the durable inbox as soon as its frame is
complete, so a kill -9 loses nothing already framed; the worker ingests the inbox in order and
resumes after a restart. A message that cannot be used is kept as a dead letter with the
reason. Syslog has no acknowledgement: a message over the size limit, or over its sender's rate
(a token bucket per peer address), is dropped and counted, never stored.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.atna import AtnaSource, AuditError, SystemMap, message_record, parse_audit
from connectors.inbox import DEAD, Inbox, InboxWorker, Row
from lineage.errors import StoreError
from lineage.pipeline import Record, RunReport
from lineage.stores import GraphStore

log = logging.getLogger("lineage.connectors.atna")
_END_OF_XML = re.compile(rb"</(?:\w+:)?AuditMessage>\s*\n")


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 256 * 1024
    rate_per_second: float = 200.0  # per sender address, with bursts up to `burst`
    burst: int = 2000
    idle_seconds: float = 120.0
    max_connections: int = 64
    dead_letter_days: float = 30.0


@dataclass(slots=True)
class Counts:
    received: int = 0
    stored: int = 0
    dead_letters: int = 0
    dropped_too_large: int = 0
    dropped_over_rate: int = 0
    not_stored: int = 0  # the inbox could not be written (its disk full or failing)

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored,
                "dead_letters_at_receipt": self.dead_letters,
                "dropped_too_large": self.dropped_too_large,
                "dropped_over_rate": self.dropped_over_rate,
                "not_stored": self.not_stored}


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float = field(default_factory=time.monotonic)


def audit_text(payload: bytes) -> str:
    """The audit message inside a syslog message: from `<?xml` or `<AuditMessage` on (the
    RFC 5424 header, structured data, a BOM or a BSD header before it are passed over)."""
    text = payload.decode("utf-8", "replace").rstrip("\x00\r\n")
    found = re.search(r"<\?xml|<(?:\w+:)?AuditMessage\b", text)
    if found is None:
        raise AuditError("the syslog message holds no <AuditMessage>")
    return text[found.start():]


def frames(buffer: bytearray, limit: int) -> Iterator[bytes | int]:
    """Complete syslog frames taken from the front of a TCP stream's buffer: octet-counted
    (`LEN SP MSG`) or ended by NUL or by a newline after `</AuditMessage>`. A frame over `limit`
    yields its length instead (the caller drops it; a counted one is skipped whole)."""
    while buffer:
        counted = re.match(rb"(\d{1,10}) ", buffer)
        if counted:
            size, start = int(counted.group(1)), counted.end()
            if size > limit:
                if len(buffer) < start + size:
                    return
                del buffer[:start + size]
                yield size
                continue
            if len(buffer) < start + size:
                return
            yield bytes(buffer[start:start + size])
            del buffer[:start + size]
            continue
        end = buffer.find(b"\x00")
        closing = _END_OF_XML.search(buffer)
        stops = [e for e in (end, closing.end() - 1 if closing else -1) if e >= 0]
        if not stops:
            if len(buffer) > limit:
                size = len(buffer)
                buffer.clear()
                yield size
            return
        stop = min(stops)
        frame = bytes(buffer[:stop])
        del buffer[:stop + 1]
        if frame.strip():
            yield frame


class AtnaListener(InboxWorker):
    kind = "ATNA"

    def __init__(self, store: GraphStore, atna: AtnaSource, inbox: Inbox,
                 limits: Limits | None = None, batch_size: int = 500,
                 retry_seconds: float = 5.0):
        self.limits = limits or Limits()
        super().__init__(store, inbox, RunReport(source="atna (syslog)"), batch_size,
                         retry_seconds, self.limits.dead_letter_days)
        self.atna = atna
        self.counts = Counts()
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def records(self, rows: list[Row]) -> Iterator[Record]:
        for seq, peer, text in rows:
            yield message_record(text, f"atna:{peer}#{seq}", self.atna)

    # -- receiving ------------------------------------------------------------------------
    def _allowed(self, peer: str) -> bool:
        """A token bucket per sender address."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(peer, _Bucket(float(self.limits.burst), now))
            bucket.tokens = min(float(self.limits.burst),
                                bucket.tokens + (now - bucket.at) * self.limits.rate_per_second)
            bucket.at = now
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def accept(self, peer: str, payload: bytes) -> bool:
        """One received syslog message: dropped (too large, over rate), kept as a dead letter
        (no usable audit message, with the reason), or stored for ingestion. False when the
        inbox could not be written (counted and logged: the message is lost)."""
        self.counts.received += 1
        host = peer.rsplit(":", 1)[0]
        if len(payload) > self.limits.max_message_bytes:
            self.counts.dropped_too_large += 1
            log.warning("audit message from %s dropped: %d bytes, over %d", peer, len(payload),
                        self.limits.max_message_bytes)
            return True
        if not self._allowed(host):
            self.counts.dropped_over_rate += 1
            if self.counts.dropped_over_rate % 1000 == 1:
                log.warning("audit messages from %s over %g/s: dropped (%d so far)", host,
                            self.limits.rate_per_second, self.counts.dropped_over_rate)
            return True
        text = payload.decode("utf-8", "replace")
        try:
            text = audit_text(payload)
            parse_audit(text)
        except AuditError as exc:
            return self._store(peer, text, str(exc))
        return self._store(peer, text)

    def _store(self, peer: str, text: str, unusable: str | None = None) -> bool:
        """Write a message to the inbox (as a dead letter with the reason if `unusable`)."""
        try:
            seq = self.inbox.add(peer, "", text)
        except (sqlite3.Error, StoreError) as exc:
            self.counts.not_stored += 1
            if self.counts.not_stored % 1000 == 1:
                log.error("audit message from %s lost (%d so far): %s", peer,
                          self.counts.not_stored, exc)
            return False
        if unusable is None:
            self.counts.stored += 1
        else:
            self.counts.dead_letters += 1
            try:
                self.inbox.finish(seq, DEAD, unusable)
                return True
            except (sqlite3.Error, StoreError):
                pass  # left pending: the worker finds it unusable too, and keeps it so
        self._wake.set()
        return True

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        if not self.admitted(peer, writer, self.limits.max_connections):
            return
        buffer = bytearray()
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), self.limits.idle_seconds)
                if not chunk:
                    break
                buffer.extend(chunk)
                for frame in frames(buffer, self.limits.max_message_bytes):
                    if isinstance(frame, int):
                        self.counts.received += 1
                        self.counts.dropped_too_large += 1
                        log.warning("audit message from %s dropped: %d bytes, over %d", peer,
                                    frame, self.limits.max_message_bytes)
                    elif not self.accept(peer, frame):
                        log.error("syslog connection from %s closed: the inbox cannot be "
                                  "written, so that the sender keeps what follows", peer)
                        return
        except TimeoutError:
            log.info("syslog connection from %s closed: silent for %g s", peer,
                     self.limits.idle_seconds)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.connections -= 1
            writer.close()

    async def _serve(self, host: str, ports: Ports, ready: Callable[[dict[str, int]], None],
                     tls: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        bound: dict[str, int] = {}
        closers: list[Callable[[], None]] = []
        if ports.udp is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, ports.udp))
            bound["udp"] = transport.get_extra_info("sockname")[1]
            closers.append(transport.close)
        for name, port, context in (("tcp", ports.tcp, None), ("tls", ports.tls, tls)):
            if port is not None:
                server = await asyncio.start_server(self._stream, host, port, ssl=context)
                bound[name] = server.sockets[0].getsockname()[1]
                closers.append(server.close)
        ready(bound)
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        for close in closers:
            close()

    def serve(self, host: str, ports: Ports, ready: Callable[[dict[str, int]], None],
              tls: ssl.SSLContext | None = None) -> None:
        worker = self.run_worker()
        try:
            asyncio.run(self._serve(host, ports, ready, tls))
        finally:
            self._stop.set()
            worker.join()
            self.drain_all()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: AtnaListener):
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.listener.accept(f"{addr[0]}:{addr[1]}", data)


@dataclass(frozen=True, slots=True)
class Ports:
    udp: int | None = None
    tcp: int | None = None
    tls: int | None = None


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def listen(store: GraphStore, system_map: Path | None, host: str, ports: Ports,
           inbox_path: Path, ready: Callable[[dict[str, int]], None],
           limits: Limits | None = None, cert: Path | None = None, key: Path | None = None
           ) -> dict[str, Any]:
    """`lineage listen atna`: serve until SIGTERM or SIGINT; returns the run's summary."""
    atna = AtnaSource(SystemMap.load(system_map, store), store)
    messages = Inbox(inbox_path)
    listener = AtnaListener(store, atna, messages, limits)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: listener.stop())
    tls = tls_context(cert, key) if ports.tls is not None and cert and key else None
    try:
        listener.serve(host, ports, ready, tls)
    finally:
        counts = messages.counts()
        messages.close()
    return {"inbox": str(inbox_path), **counts, **listener.counts.as_dict(),
            **listener.report.as_dict()}
