"""The API under load and abuse, as a real uvicorn server on loopback: a large ingest does not
hold up other requests, a chunked body is refused once it passes the limit (not read whole), and
every request leaves one audit line whatever its status (security review findings 4 and 5)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from lineage.stores import LocalStore
from tests.test_api import TOKENS, auth, client_for
from tests.test_hl7 import numbered


def test_health_answers_while_a_10_mb_ingest_runs(api_server: str) -> None:
    messages = numbered(46_000)  # about 10 MB of ADT^A08
    body = "".join(m.replace("\r", "\n") + "\n" for m in messages).encode()
    assert len(body) > 10_000_000
    outcome: dict[str, object] = {}

    def ingest() -> None:
        answer = httpx.post(f"{api_server}/ingest/hl7", params={"system": "EHR"}, content=body,
                            headers=auth("ingest"), timeout=600)
        outcome["status"] = answer.status_code

    worker = threading.Thread(target=ingest)
    worker.start()
    time.sleep(0.5)  # the body on its way
    waits = []
    while worker.is_alive():  # /health asked again and again for as long as the ingest runs
        started = time.monotonic()
        assert httpx.get(f"{api_server}/health", timeout=30).status_code == 200
        waits.append(time.monotonic() - started)
        time.sleep(0.2)
    worker.join(600)
    assert outcome["status"] == 200
    assert len(waits) >= 3, "the ingest ended before /health could be asked during it"
    assert max(waits) < 1.0, f"/health waited {max(waits):.1f} s behind the ingest"


def test_a_chunked_body_is_refused_once_it_passes_the_limit(api_server: str) -> None:
    host, port = api_server.removeprefix("http://").split(":")
    sent = 0
    chunk = b"x" * 65536
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            f"POST /ingest/hl7?system=EHR HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {TOKENS['ingest']}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: text/plain\r\n\r\n".encode())
        reply = b""
        while sent < 200 * 1024 * 1024 and not reply:  # bounded: at most 200 MB
            try:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if select.select([connection], [], [], 0)[0]:
                reply = connection.recv(4096)
        if not reply:  # the server closed on us: its answer may still be in the buffer
            connection.settimeout(10)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                reply = connection.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    # refused soon after the 12 MB limit (socket buffers hold a few MB more), not read whole
    assert sent < 48 * 1024 * 1024


def test_every_request_is_audited_whatever_its_status(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db") as store, \
            client_for(store, tmp_path, max_body=1000) as client:
        client.get("/stats")  # 401: no token
        client.post("/ingest/hl7", params={"system": "EHR"}, headers=auth("auditor"))  # 403
        client.post("/ingest/hl7", params={"system": "EHR"}, content=b"x" * 2000,
                    headers=auth("ingest"))  # 413
        client.get("/retention/drift", params={"limit": "many"}, headers=auth("auditor"))  # 422
        client.post("/cypher", json={"query": "MATCH (n) RETURN count(n)"},
                    headers=auth("architect"))  # 400: not a Neo4j store
        def broken() -> None:
            raise RuntimeError("the store failed")

        store.stats = broken  # type: ignore[assignment,method-assign]  # the next read: a 500
        client.get("/stats", headers=auth("auditor"))
    audit = tmp_path / "audit.jsonl"
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["status"] for line in lines] == [401, 403, 413, 422, 400, 500]
    assert lines[4]["cypher"] == "MATCH (n) RETURN count(n)"
    assert stat.S_IMODE(os.stat(audit).st_mode) == 0o600


def test_the_audit_log_rotates(tmp_path: Path) -> None:
    from api.security import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=1024, backups=2)
    for n in range(100):
        log.append({"n": n, "padding": "x" * 50})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size <= 1024 + 200 for p in tmp_path.iterdir())
    newest = [json.loads(line)["n"] for line in (tmp_path / "audit.jsonl").read_text().split(
        "\n") if line]
    assert newest[-1] == 99


def test_an_interrupted_export_leaves_no_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    exports = tmp_path / "tmp"
    exports.mkdir()
    monkeypatch.setenv("TMPDIR", str(exports))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    with (LocalStore(tmp_path / "lineage.db") as store, client_for(store, tmp_path) as client,
          client.stream("GET", "/export", params={"format": "graphml"},
                        headers=auth("auditor")) as response):
        assert response.status_code == 200
        assert list(exports.iterdir()) == []  # gone from disk while it is being sent
    assert list(exports.iterdir()) == []
