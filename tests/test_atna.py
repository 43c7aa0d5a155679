"""IHE ATNA audit messages: parsing both forms, the lineage they become on both stores, hostile
messages, and the syslog listener over real UDP, TCP and TLS sockets on loopback (Python's
SysLogHandler and the rfc5424-logging-handler client), with a flood and a kill -9."""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.atna import AuditError, parse_audit
from connectors.atna_listener import AtnaListener, Limits, Ports, frames
from connectors.inbox import Inbox
from lineage.export import export
from lineage.impact import decommission
from lineage.sources import SourceContext, load_source, run_source
from lineage.stores import GraphStore, LocalStore
from tests.test_cli import STRONG_KEY, lineage

FIXTURES = Path(__file__).parent / "fixtures" / "atna"
SYSTEM_MAP = FIXTURES / "system-map.yaml"
ESTATE = """version: 1
systems:
  - {code: CT-NORTH, kind: modality, region_code: onprem-london}
  - {code: VNA-CENTRAL, kind: vna, region_code: onprem-leeds, ae_titles: [VNA_CENTRAL]}
  - {code: DR-VAULT, kind: backup, region_code: eu-west-2, hosts: [dr-vault.london.example]}
  - {code: PACS-NORTH, kind: pacs, region_code: onprem-london}
"""
ORDER = ["cstore-into-vna", "move-to-dr", "rfc3881-move", "export-to-media",
         "import-from-media", "failed-move", "query"]


def ingest_files(store: GraphStore, tmp_path: Path, *names: str) -> Any:
    context = SourceContext(store, STRONG_KEY.encode(), state_path=lambda n: tmp_path / n)
    return run_source("atna", {"files": [FIXTURES / f"{n}.xml" for n in names],
                               "system_map": SYSTEM_MAP}, context)


def with_estate(store: GraphStore, tmp_path: Path) -> None:
    (tmp_path / "estate.yaml").write_text(ESTATE)
    context = SourceContext(store, STRONG_KEY.encode(), state_path=lambda n: tmp_path / n)
    assert not run_source("estate", {"file": tmp_path / "estate.yaml"}, context).rejected


def test_both_forms_parse_to_the_same_event() -> None:
    dicom = parse_audit((FIXTURES / "move-to-dr.xml").read_text())
    rfc = parse_audit((FIXTURES / "rfc3881-move.xml").read_text())
    assert (dicom.event_id, dicom.action, dicom.succeeded) == ("110104", "R", True)
    assert (rfc.event_id, rfc.action, rfc.succeeded) == ("110104", "R", True)
    assert dicom.with_role("110153").ae_titles == ("VNA_CENTRAL",)  # type: ignore[union-attr]
    assert rfc.with_role("110152").ae_titles == ("DR_VAULT", "DR_VAULT2")  # type: ignore[union-attr]
    assert dicom.studies == (("2.25.1001", 9),) and rfc.studies == (("2.25.1002", None),)
    stored = parse_audit((FIXTURES / "cstore-into-vna.xml").read_text())
    assert stored.at == "2026-03-02T08:15:00.120000Z"  # +01:00 → UTC
    assert stored.studies == (("2.25.1001", 9),)  # 7 CT + 2 secondary capture


def test_audit_messages_become_copies_and_disposals(any_store: GraphStore,
                                                    tmp_path: Path) -> None:
    with_estate(any_store, tmp_path)
    report = ingest_files(any_store, tmp_path, *ORDER)
    assert report.rejected == []
    notices = " | ".join(n.message for n in report.notices)
    assert "failed (EventOutcomeIndicator)" in notices and "not a copy" in notices
    assert "export's destination (AE CD-BURNER-3) maps to no system" in notices
    vna = any_store.get_node("object:VNA-CENTRAL:2.25.1001")
    assert vna is not None and vna.properties["instance_count"] == 9
    assert vna.properties["confidence"] == "observed"
    assert vna.properties["source"] == "atna:VNA_CENTRAL"
    copied = {(e.src, e.dst) for e in any_store.edges("object:DR-VAULT:2.25.1001", "out",
                                                      ["COPIED_FROM"])}  # type: ignore[list-item]
    assert copied == {("object:DR-VAULT:2.25.1001", "object:VNA-CENTRAL:2.25.1001")}
    placeholder = any_store.get_node("object:VNA-CENTRAL:2.25.1002")
    assert placeholder is not None and placeholder.properties.get("unresolved") is True
    assert any_store.get_node("object:OUTSIDE-ESTATE:2.25.1001") is not None
    assert any_store.get_node("object:PACS-NORTH:2.25.1003").properties[  # type: ignore[union-attr]
        "instance_count"] == 24
    assert any_store.get_node("object:DR-VAULT:2.25.1009") is None  # the failed transfer

    before = decommission(any_store, "VNA-CENTRAL")
    assert before["holdings"] == {"copies": 1, "items": 1, "elsewhere": [
        {"system": "system:DR-VAULT", "items": 1}, {"system": "system:OUTSIDE-ESTATE",
                                                    "items": 1}]}
    assert not ingest_files(any_store, tmp_path, "study-deleted").rejected
    gone = any_store.get_node("object:VNA-CENTRAL:2.25.1001")
    assert gone is not None and gone.properties["disposed_at"] == "2026-06-30T02:00:00.000000Z"
    assert gone.properties["disposal_reason"] == "DICOM Study Deleted (audit message)"
    assert decommission(any_store, "VNA-CENTRAL")["holdings"]["copies"] == 0


def test_no_patient_data_enters_the_graph(any_store: GraphStore, tmp_path: Path) -> None:
    with_estate(any_store, tmp_path)
    ingest_files(any_store, tmp_path, *ORDER, "study-deleted")
    export(any_store, "node-link", tmp_path / "graph.json")
    text = (tmp_path / "graph.json").read_text()
    assert "DOE" not in text and "MRN-55501" not in text and "ACC-4411" not in text


HOSTILE = {
    "not xml": ("<AuditMessage><EventIdentification", "not well-formed XML"),
    "entities": ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><AuditMessage>&e;'
                 "</AuditMessage>", "DTD, an entity or an external reference"),
    "wrong root": ("<Audit/>", "not <AuditMessage>"),
    "no event": ("<AuditMessage/>", "no EventIdentification"),
    "bad time": ('<AuditMessage><EventIdentification EventDateTime="yesterday"><EventID '
                 'csd-code="110104"/></EventIdentification></AuditMessage>',
                 "EventDateTime is not an ISO-8601 time"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_messages_get_clear_errors_without_their_content(name: str) -> None:
    text, reason = HOSTILE[name]
    with pytest.raises(AuditError) as raised:
        parse_audit(text)
    assert reason in str(raised.value) and "yesterday" not in str(raised.value)


def test_an_oversized_message_and_a_bad_uid_are_refused(any_store: GraphStore,
                                                        tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="over the 262144 allowed"):
        parse_audit("<AuditMessage>" + " " * 300_000 + "</AuditMessage>")
    with_estate(any_store, tmp_path)
    bad = (FIXTURES / "move-to-dr.xml").read_text().replace("2.25.1001", "DOE^JANE")
    unknown = (FIXTURES / "move-to-dr.xml").read_text().replace(
        'UserID="DR_VAULT"', 'UserID="NOBODY"').replace("dr-vault.london.example", "nowhere")
    (tmp_path / "bad.xml").write_text(bad + unknown + (FIXTURES / "query.xml").read_text())
    context = SourceContext(any_store, STRONG_KEY.encode(), state_path=lambda n: tmp_path / n)
    report = run_source("atna", {"files": [tmp_path / "bad.xml"], "system_map": SYSTEM_MAP},
                        context)
    reasons = {r.location.rsplit("#", 1)[1]: r.reason for r in report.rejected}
    assert "not a DICOM UID" in reasons["1"] and "DOE" not in reasons["1"]
    assert "destination (AE NOBODY, host nowhere) maps to no system" in reasons["2"]
    assert "3" not in reasons  # the rest of the file goes on


def test_framing_octet_counted_nul_and_newline_ended() -> None:
    message = (FIXTURES / "query.xml").read_bytes()
    counted = f"{len(message)} ".encode() + message
    buffer = bytearray(counted + message + b"\x00" + message.rstrip() + b"\n" + b"99999999 x")
    found = list(frames(buffer, 1_000_000))
    assert [f.strip() for f in found if isinstance(f, bytes)] == [message.strip()] * 3
    assert buffer == bytearray(b"99999999 x")  # a frame still arriving stays
    assert list(frames(bytearray(b"2000000 " + b"x" * 2_000_000), 1_000_000)) == [2_000_000]


# -- the listener over real sockets ------------------------------------------------------------

def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                __import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Running:
    """An AtnaListener serving UDP, TCP and TLS on free loopback ports, in a thread."""

    def __init__(self, store: GraphStore, tmp_path: Path, limits: Limits | None = None,
                 inbox: Path | None = None):
        from connectors.atna import AtnaSource, SystemMap

        self.cert, self.key = certificate(tmp_path)
        self.inbox = Inbox(inbox or tmp_path / "atna.inbox")
        self.listener = AtnaListener(store, AtnaSource(SystemMap.load(SYSTEM_MAP, store), store),
                                     self.inbox, limits, retry_seconds=0.2)
        self.ports: dict[str, int] = {}
        bound = threading.Event()

        def ready(ports: dict[str, int]) -> None:
            self.ports = ports
            bound.set()
        from connectors.atna_listener import tls_context

        self.thread = threading.Thread(target=self.listener.serve, daemon=True, args=(
            "127.0.0.1", Ports(udp=0, tcp=0, tls=0), ready, tls_context(self.cert, self.key)))
        self.thread.start()
        assert bound.wait(10)

    def stop(self) -> None:
        self.listener.stop()
        self.thread.join(30)
        self.inbox.close()


@pytest.fixture
def running(any_store: GraphStore, tmp_path: Path) -> Iterator[Running]:
    with_estate(any_store, tmp_path)
    server = Running(any_store, tmp_path)
    yield server
    server.stop()


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(f"atna-test-{name}-{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def test_udp_tcp_and_tls_senders_all_become_lineage(running: Running,
                                                    any_store: GraphStore) -> None:
    from rfc5424logging import FRAMING_OCTET_COUNTING, Rfc5424SysLogHandler

    udp = logging.handlers.SysLogHandler(("127.0.0.1", running.ports["udp"]))
    tcp = Rfc5424SysLogHandler(("127.0.0.1", running.ports["tcp"]), socktype=socket.SOCK_STREAM,
                               framing=FRAMING_OCTET_COUNTING, appname="VNA", procid="31402")
    tls = Rfc5424SysLogHandler(("127.0.0.1", running.ports["tls"]), socktype=socket.SOCK_STREAM,
                               framing=FRAMING_OCTET_COUNTING, tls_enable=True,
                               tls_ca_bundle=str(running.cert), appname="VNA")
    sends = [(udp, "cstore-into-vna"), (tcp, "move-to-dr"), (tls, "rfc3881-move")]
    for handler, name in sends:
        logger_with(handler, name).info((FIXTURES / f"{name}.xml").read_text())
        handler.close()
    wait_for(lambda: running.inbox.counts()["done"] == 3)
    assert any_store.get_node("object:VNA-CENTRAL:2.25.1001") is not None  # over UDP
    assert [e.dst for e in any_store.edges("object:DR-VAULT:2.25.1001", "out",
                                           ["COPIED_FROM"])] == [  # type: ignore[list-item]
        "object:VNA-CENTRAL:2.25.1001"]  # over TCP
    assert any_store.get_node("object:DR-VAULT:2.25.1002") is not None  # over TLS
    assert running.listener.counts.stored == 3


def test_malformed_and_oversized_messages_are_kept_or_dropped(running: Running) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(b"<14>1 - host app - - - <AuditMessage><broken", ("127.0.0.1",
                                                                 running.ports["udp"]))
    udp.sendto(b"<14>1 - host app - - - just text", ("127.0.0.1", running.ports["udp"]))
    with socket.create_connection(("127.0.0.1", running.ports["tcp"])) as tcp:
        huge = b"<AuditMessage>" + b"x" * 300_000 + b"</AuditMessage>"
        tcp.sendall(f"{len(huge)} ".encode() + huge)
        good = (FIXTURES / "import-from-media.xml").read_bytes()
        tcp.sendall(f"{len(good)} ".encode() + good)
    wait_for(lambda: running.listener.counts.received == 4)
    wait_for(lambda: running.inbox.counts()["done"] == 3)
    letters = running.inbox.dead_letters()
    assert sorted(letter["reason"] for letter in letters) == [
        "the audit message is not well-formed XML (line 1, column 14)",
        "the syslog message holds no <AuditMessage>"]
    assert running.listener.counts.dropped_too_large == 1  # and the stream went on


def test_a_flood_is_bounded_per_sender(any_store: GraphStore, tmp_path: Path) -> None:
    with_estate(any_store, tmp_path)
    server = Running(any_store, tmp_path, Limits(rate_per_second=50, burst=1000))
    try:
        message = (FIXTURES / "query.xml").read_bytes()
        frame = f"{len(message)} ".encode() + message
        with socket.create_connection(("127.0.0.1", server.ports["tcp"])) as tcp:
            for _ in range(10_000):
                tcp.sendall(frame)
        wait_for(lambda: server.listener.counts.received == 10_000, 60)
        counts = server.listener.counts
        assert counts.stored + counts.dropped_over_rate == 10_000
        assert 1000 <= counts.stored < 10_000 and counts.dropped_over_rate > 0
        wait_for(lambda: server.inbox.counts()["pending"] == 0, 180)  # a loaded machine
    finally:
        server.stop()


def test_kill_9_loses_nothing_already_received(tmp_path: Path) -> None:
    """`lineage listen atna` in its own process: 300 transfers over TCP; killed with SIGKILL as
    soon as the inbox holds them all (ingest under way); restarted, it ingests every one."""
    (tmp_path / "estate.yaml").write_text(ESTATE)
    assert lineage("ingest", "estate", "estate.yaml", cwd=tmp_path).returncode == 0
    port = free_port()
    command = [sys.executable, "-m", "lineage", "listen", "atna", "--tcp", str(port),
               "--system-map", str(SYSTEM_MAP)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    first = subprocess.Popen(command, cwd=tmp_path, env=env, **quiet)  # type: ignore[call-overload]
    wait_for(lambda: port_open(port))
    template = (FIXTURES / "move-to-dr.xml").read_text()
    with socket.create_connection(("127.0.0.1", port)) as tcp:
        for i in range(300):
            message = template.replace("2.25.1001", f"2.25.7{i:03d}").encode()
            tcp.sendall(f"{len(message)} ".encode() + message)
    inbox = tmp_path / "lineage.db.atna.inbox"
    wait_for(lambda: inbox_rows(inbox) == 300)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = subprocess.Popen(command, cwd=tmp_path, env=env, **quiet)  # type: ignore[call-overload]
    try:
        wait_for(lambda: inbox_pending(inbox) == 0, 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    with LocalStore(tmp_path / "lineage.db") as store:
        copies = [n for n in store.iter_nodes() if n.key.startswith("object:DR-VAULT:2.25.7")]
    assert len(copies) == 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def inbox_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])


def inbox_pending(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM inbox WHERE done = 0").fetchone()[0])


def test_the_registry_lists_the_atna_source() -> None:
    assert load_source("atna").kind == "atna"
    assert ssl.OPENSSL_VERSION  # TLS is available to the listener


def test_a_balp_audit_event_becomes_the_same_lineage(any_store: GraphStore,
                                                     tmp_path: Path) -> None:
    """A FHIR AuditEvent (IHE BALP) of a transfer: the copy an ATNA message would give."""
    with_estate(any_store, tmp_path)
    event = {"resourceType": "AuditEvent", "recorded": "2026-03-02T22:40:05Z", "outcome": "0",
             "action": "R",
             "type": {"system": "http://dicom.nema.org/resources/ontology/DCM",
                      "code": "110104", "display": "DICOM Instances Transferred"},
             "source": {"observer": {"display": "VNA_CENTRAL"}},
             "agent": [
                 {"type": {"coding": [{"code": "110153"}]}, "requestor": False,
                  "who": {"identifier": {"value": "VNA_CENTRAL"}}},
                 {"type": {"coding": [{"code": "110152"}]}, "requestor": False,
                  "network": {"address": "dr-vault.london.example", "type": "1"}}],
             "entity": [{"what": {"identifier": {"system": "urn:dicom:uid",
                                                 "value": "urn:oid:2.25.4242"}}},
                        {"what": {"identifier": {"value": "MRN-55501"}}}]}
    (tmp_path / "audit.json").write_text(json.dumps(event))
    context = SourceContext(any_store, STRONG_KEY.encode(), state_path=lambda n: tmp_path / n)
    report = run_source("fhir", {"files": [tmp_path / "audit.json"], "system": "EHR"}, context)
    assert report.rejected == []
    copy = any_store.get_node("object:DR-VAULT:2.25.4242")
    assert copy is not None and copy.properties["created_at"] == "2026-03-02T22:40:05.000000Z"
    assert [e.dst for e in any_store.edges("object:DR-VAULT:2.25.4242", "out",
                                           ["COPIED_FROM"])] == [  # type: ignore[list-item]
        "object:VNA-CENTRAL:2.25.4242"]
