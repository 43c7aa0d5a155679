"""HL7 v2: the reference's sample messages, merges, bad input, and a real MLLP listener."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.hl7 import Hl7Source, read_files
from connectors.hl7_message import HL7Error, ack, frame, parse, unframe
from connectors.patients import current_studies
from lineage.identity import patient_key
from lineage.impact import trace
from lineage.ingest import ingest as run_ingest
from lineage.pipeline import RunReport
from lineage.stores import GraphStore, LocalStore

# Sample messages of the shapes EHRs and RISs send, kept with the tests.
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "hl7"
SECRET = b"h" * 32
STUDY = "study:1.2.826.0.1.3680043.8.498.10048712345678901234567890123"
JANE = patient_key("GENHOSP", "MRN12345", SECRET)
PRIOR = patient_key("GENHOSP", "MRN99999", SECRET)


def samples() -> Path:
    return SAMPLES


def ingest(store: GraphStore, *paths: Path) -> RunReport:
    source = Hl7Source("EHR", SECRET)
    return run_ingest(store, read_files(paths, source, current_studies(store)), "hl7:EHR")


def test_sample_messages_become_orders_reports_and_patient_facts(any_store: GraphStore) -> None:
    order_files = [samples() / name for name in ("orm_o01.hl7", "omi_o23.hl7", "oru_r01.hl7",
                                                 "adt_a08.hl7", "adt_a03.hl7")]
    report = ingest(any_store, *order_files)

    assert report.rejected == []
    order = any_store.get_node("order:GENHOSP/ACC20240115001")
    assert order is not None and order.properties["modality"] == "CT"
    assert order.properties["placer_order"] == "PLC100045"
    assert any_store.neighbours("order:GENHOSP/ACC20240115001") == [STUDY]
    assert any_store.neighbours("report:GENHOSP/ACC20240115001") == [STUDY]
    assert any_store.get_node("report:GENHOSP/ACC20240115001").properties["status"] == "F"  # type: ignore[union-attr]
    assert any_store.neighbours(STUDY) == [JANE]
    jane = any_store.get_node(JANE).properties  # type: ignore[union-attr]
    assert (jane["birth_year_month"], jane["death_date"], jane["deceased"]) == (
        "1980-05", "2024-02-28", True)
    assert jane["last_encounter"] == "2024-01-16"
    dump = repr([(n.key, n.properties) for n in any_store.iter_nodes()])
    assert "MRN12345" not in dump and "DOE" not in dump and "19800515" not in dump


def test_merge_relinks_studies_and_keeps_history(any_store: GraphStore, tmp_path: Path) -> None:
    prior_order = (samples() / "orm_o01.hl7").read_text().replace("MRN12345^^^GENHOSP&2.16",
                                                                  "MRN99999^^^GENHOSP&2.16")
    (tmp_path / "prior.hl7").write_text(prior_order)
    ingest(any_store, tmp_path / "prior.hl7")
    assert any_store.neighbours(STUDY) == [PRIOR]

    report = ingest(any_store, samples() / "adt_a40.hl7")

    assert report.rejected == []
    assert any_store.get_node(PRIOR).properties["merged_into"] == JANE  # type: ignore[union-attr]
    links = {e.dst: e.properties for e in any_store.edges(STUDY, "out", ["OF_PATIENT"])}  # type: ignore[list-item]
    assert "valid_to" in links[PRIOR] and "valid_to" not in links[JANE]
    after = trace(any_store, STUDY, "up", 1, "2024-06-01")
    assert [n["key"] for n in after["nodes"] if n["kind"] == "Patient"] == [JANE]
    before = trace(any_store, STUDY, "up", 1, "2024-03-01")
    assert [n["key"] for n in before["nodes"] if n["kind"] == "Patient"] == [PRIOR]


@pytest.mark.parametrize(("text", "reason"), [
    ("PID|1||X^^^H^MR\r", "no MSH segment"),
    ("MSH|^~|EHR|H|RIS|H|20240101||ADT^A08|1|P|2.5\r", "bad encoding characters"),
    ("MSH|^~\\&|EHR|H|RIS|H|20240101||ADT^A99|1|P|2.5\rPID|1||X^^^H^MR\r",
     "unsupported message type ADT^A99"),
    ("MSH|^~\\&|EHR|H|RIS|H|20240101||ADT^A08|1|P|2.5\rPID|1||\r", "PID-3 has no patient"),
    ("MSH|^~\\&|RIS|H|PACS|H|20240101||ORM^O01|1|P|2.3\rPID|1||X^^^H^MR\rOBR|1\r",
     "no accession number"),
    ("MSH|^~\\&|RIS|H|PACS|H|20240101||ORM^O01|1|P|2.3\rPID|1||X^^^H^MR\r"
     "OBR|1" + "|" * 17 + "A1\rZDS|not-a-uid^RIS\r", "not-a-uid"),
])
def test_bad_messages_are_reported_and_the_run_goes_on(
    any_store: GraphStore, tmp_path: Path, text: str, reason: str
) -> None:
    bad = tmp_path / "bad.hl7"
    bad.write_text(text.replace("\r", "\n") + "\n" + (samples() / "adt_a08.hl7").read_text())
    report = ingest(any_store, bad)
    [rejected] = report.rejected
    assert rejected.location == f"{bad}:1" and reason in rejected.reason
    assert any_store.get_node(JANE) is not None  # the good message after it went in


def test_parser_framing_and_acks() -> None:
    message = parse((samples() / "orm_o01.hl7").read_text())
    assert message.type == "ORM^O01" and message.control_id == "MSG00001"
    pid3 = message.field("PID", 3)
    assert message.repetitions(pid3)[1] == "9876543210^^^NHS^NH"
    assert message.subcomponent(message.component(pid3, 4), 2) == "2.16.840.1.113883.3.9999.1"
    buffer = bytearray(b"noise" + frame("MSH|a") + frame("MSH|b")[:-2])
    assert unframe(buffer) == [b"MSH|a"] and buffer.startswith(b"\x0bMSH|b")
    reply = ack(message, "AE", "no | pipes\rplease")
    assert reply.startswith("MSH|^~\\&|PACS|GENHOSP|RIS|GENHOSP|")
    assert "ACK^O01" in reply and reply.split("\r")[1] == "MSA|AE|MSG00001|no   pipes please"
    with pytest.raises(HL7Error):
        parse("")


# -- a real MLLP listener -----------------------------------------------------------------------
def start_listener(folder: Path, *options: str) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "lineage", "--store", "lineage.db", "listen", "hl7", "--system",
         "EHR", "--port", "0", "--inbox", "hl7.inbox", *options], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen = ""
    while "listening" not in seen.rpartition("\n")[0]:  # log lines may come first
        line = process.stderr.readline()
        assert line, seen + process.stderr.read()
        seen += line
    found = re.search(r"listening .* on 127\.0\.0\.1:(\d+)", seen)
    assert found, seen
    return process, int(found.group(1))


def send(port: int, messages: list[str]) -> list[str]:
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        buffer = bytearray()
        for message in messages:
            connection.sendall(frame(message))
            while True:
                frames = unframe(buffer)
                if frames:
                    replies += [f.decode() for f in frames]
                    break
                chunk = connection.recv(65536)
                assert chunk, "connection closed before the ACK"
                buffer.extend(chunk)
    return replies


def msa(reply: str) -> list[str]:
    return reply.split("\r")[1].split("|")


def numbered(count: int) -> list[str]:
    template = (samples() / "adt_a08.hl7").read_text().replace("\n", "\r")
    return [template.replace("MSG00004", f"M{i:05d}").replace("MRN12345", f"MRN{i:05d}")
            for i in range(count)]


def patients(folder: Path) -> set[str]:
    with LocalStore(folder / "lineage.db") as store:
        return {n.key for n in store.iter_nodes() if n.key.startswith("patient:")}


def test_listener_acknowledges_and_rejects_with_reasons(tmp_path: Path) -> None:
    process, port = start_listener(tmp_path)
    try:
        good, bad, unsupported, no_pid = send(port, [
            (samples() / "oru_r01.hl7").read_text(), "this is not HL7",
            "MSH|^~\\&|A|B|C|D|20240101||ADT^A99|X1|P|2.5\rPID|1||X^^^H^MR",
            "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|X2|P|2.5\rPID|1||"])
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert msa(good)[:3] == ["MSA", "AA", "MSG00003"]
    assert msa(bad)[1] == "AR" and "no MSH segment" in msa(bad)[3]
    assert msa(unsupported)[1:3] == ["AR", "X1"] and "ADT^A99" in msa(unsupported)[3]
    assert msa(no_pid)[1:3] == ["AE", "X2"] and "PID-3" in msa(no_pid)[3]
    summary = json.loads(out)
    assert (summary["pending"], summary["done"]) == (0, 1)
    assert patient_key("GENHOSP", "MRN12345", b"development-only-pseudonym-key-change-me") in (
        patients(tmp_path))


def test_no_accepted_message_is_lost_across_a_crash(tmp_path: Path) -> None:
    messages = numbered(60)
    process, port = start_listener(tmp_path)
    try:
        replies = send(port, messages)
    finally:
        process.send_signal(signal.SIGKILL)  # no clean shutdown, ingest may be mid-way
        process.wait()
    assert all(msa(reply)[1] == "AA" for reply in replies)

    process, port = start_listener(tmp_path)  # resumes with what the inbox still holds
    try:
        send(port, numbered(61)[60:])
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    summary = json.loads(out)
    assert (summary["pending"], summary["done"]) == (0, 61)
    assert len(patients(tmp_path)) == 61


def test_a_poison_message_is_refused_before_the_ack_and_the_listener_goes_on(
    tmp_path: Path,
) -> None:
    good = numbered(3)
    poison = good[1].replace("20240301090000||ADT", "20241345090000||ADT")  # MSH-7 month 13
    bad_death = good[2].replace("|20240228|", "|20241345|")  # PID-29 not a date
    process, port = start_listener(tmp_path)
    try:
        replies = send(port, [good[0], poison, bad_death, numbered(4)[3]])
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert [msa(r)[1] for r in replies] == ["AA", "AE", "AE", "AA"]
    assert "MSH-7" in msa(replies[1])[3] and "PID-29" in msa(replies[2])[3]
    assert "20241345" not in replies[1] + replies[2]  # the ACK does not repeat the value
    summary = json.loads(out)
    assert (summary["pending"], summary["done"], summary["dead_letters"]) == (0, 2, 0)
    assert len(patients(tmp_path)) == 2


def test_a_message_that_fails_after_the_ack_is_a_dead_letter_and_restart_works(
    tmp_path: Path,
) -> None:
    """A message accepted by an earlier version (or the store refusing it) cannot stop the
    worker: it is kept as a dead letter with the reason, and later messages are ingested."""
    from connectors.inbox import Inbox

    poison = numbered(1)[0].replace("20240301090000||ADT", "20241345090000||ADT")
    inbox = Inbox(tmp_path / "hl7.inbox")
    inbox.add("127.0.0.1:1", "M00000", poison)  # as main's listener stored it, ACKed AA
    inbox.close()
    process, port = start_listener(tmp_path)  # used to exit 2 on this message
    try:
        [reply] = send(port, [numbered(2)[1]])
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert msa(reply)[1] == "AA", err
    summary = json.loads(out)
    assert (summary["pending"], summary["dead_letters"]) == (0, 1)
    assert len(patients(tmp_path)) == 1

    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    listing = subprocess.run(
        [sys.executable, "-m", "lineage", "--store", "lineage.db", "listen", "hl7", "--system",
         "EHR", "--inbox", "hl7.inbox", "--dead-letters"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    [letter] = json.loads(listing.stdout)["dead_letters"]
    assert letter["control_id"] == "M00000" and "MSH-7" in letter["reason"]


def test_the_inbox_keeps_no_message_body_after_ingestion(tmp_path: Path) -> None:
    import sqlite3

    process, port = start_listener(tmp_path)
    try:
        send(port, numbered(2))
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    with sqlite3.connect(tmp_path / "hl7.inbox") as db:
        rows = db.execute("SELECT message, message_sha256, outcome FROM inbox").fetchall()
    assert [(body, outcome) for body, _, outcome in rows] == [("", "ingested")] * 2
    assert all(len(digest) == 64 for _, digest, _ in rows)
    assert b"DOE" not in inbox_bytes(tmp_path)


def test_the_listener_bounds_message_size_silence_and_connections(tmp_path: Path) -> None:
    process, port = start_listener(tmp_path, "--max-message-bytes", "65536", "--idle-timeout",
                                   "1", "--max-connections", "2")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as big:
            big.sendall(b"\x0bMSH|" + b"x" * 200_000)  # no end block, over the limit
            reply = b""
            while chunk := big.recv(65536):
                reply += chunk
            assert b"MSA|AR|" in reply and b"over 65536 bytes" in reply
        with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
            silent.sendall(b"\x0bMSH|^~\\&|half a message")
            started = time.monotonic()
            assert silent.recv(100) == b""  # closed by the listener
            assert time.monotonic() - started < 10
        first = socket.create_connection(("127.0.0.1", port), timeout=30)
        second = socket.create_connection(("127.0.0.1", port), timeout=30)
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as third:
            assert third.recv(100) == b""  # over --max-connections: closed at once
        first.close()
        second.close()
        time.sleep(0.3)
        [good] = send(port, numbered(1))  # the listener still serves
        assert msa(good)[1] == "AA"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def test_dead_letters_lose_their_bodies_after_the_configured_days(tmp_path: Path) -> None:
    import sqlite3

    from connectors.inbox import Inbox
    from connectors.mllp import Hl7Listener, Limits

    poison = numbered(1)[0].replace("20240301090000||ADT", "20241345090000||ADT")
    inbox = Inbox(tmp_path / "hl7.inbox")
    inbox.add("peer", "M00000", poison)
    with LocalStore(tmp_path / "lineage.db") as store:
        keep = Hl7Listener(store, Hl7Source("EHR", b"k" * 32), inbox, current_studies(store))
        keep.drain_all()  # a dead letter now, kept for 30 days by default
        assert b"DOE" in inbox_bytes(tmp_path)
        purge = Hl7Listener(store, Hl7Source("EHR", b"k" * 32), inbox, current_studies(store),
                            limits=Limits(dead_letter_days=0))
        purge.drain_all()
    inbox.close()
    with sqlite3.connect(tmp_path / "hl7.inbox") as db:
        [(body, digest, reason)] = db.execute(
            "SELECT message, message_sha256, reason FROM inbox").fetchall()
    assert body == "" and len(digest) == 64 and "MSH-7" in reason
    assert b"DOE" not in inbox_bytes(tmp_path)


def inbox_bytes(folder: Path) -> bytes:
    """Everything of the inbox on disk: the database and its write-ahead log."""
    return b"".join(path.read_bytes() for path in folder.glob("hl7.inbox*"))
