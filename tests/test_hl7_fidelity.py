"""HL7 v2 as real senders send it: python-hl7's own MLLP client against `lineage listen hl7`,
ACKs parsed back with python-hl7, batch files, time zone offsets, escape sequences and
implausible birth dates (issue "Protocol fidelity")."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import hl7
from hl7.client import MLLPClient

from connectors.hl7_message import ack, parse
from lineage.identity import patient_key
from lineage.stores import GraphStore
from tests.test_hl7 import SAMPLES, ingest, start_listener

SECRET = b"h" * 32


def sample(name: str) -> str:
    return (SAMPLES / name).read_text().replace("\n", "\r")


def test_acks_are_valid_hl7_for_the_official_client(tmp_path: Path) -> None:
    no_accession = sample("oru_r01.hl7").replace("|ACC20240115001|", "||")
    process, port = start_listener(tmp_path)
    try:
        with MLLPClient("127.0.0.1", port) as client:
            good = client.send_message(sample("adt_a08.hl7"))
            refused = client.send_message(no_accession)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    for raw, code in ((good, "AA"), (refused, "AE")):
        reply = hl7.parse(raw.decode())
        assert str(reply.segment("MSA")[1]) == code
        assert hl7.parse_datetime(str(reply.segment("MSH")[7])) is not None  # a real DTM
        assert str(reply.segment("MSH")[9]).startswith("ACK")
    assert str(hl7.parse(refused.decode()).segment("MSA")[2]) == "MSG00003"
    assert "accession" in str(hl7.parse(refused.decode()).segment("MSA")[3])


def test_acks_never_echo_framing_bytes() -> None:
    message = parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A08|X\x0b1\x1c|P|2.5\rPID|1||X^^^H^MR")
    reply = ack(message, "AE", "bad\x1c\rreason")
    assert "\x0b" not in reply and "\x1c" not in reply
    assert reply.count("\r") == 2  # MSH and MSA, nothing split by an echoed line end
    assert str(hl7.parse(reply).segment("MSA")[2]) == "X 1 "


def test_batch_files_offsets_escapes_and_birth_dates(any_store: GraphStore,
                                                     tmp_path: Path) -> None:
    order = (sample("orm_o01.hl7")
             .replace("|20240115110000|", "|20240115113000+0100|", 1)  # MSH-7 in CET
             .replace("ACC20240115001", "ACC\\T\\0042"))  # an escaped '&' in the accession
    odd_birth = sample("adt_a08.hl7").replace("MRN12345", "MRN555").replace(
        "19800515", "10131113")
    year_only = sample("adt_a08.hl7").replace("MRN12345", "MRN556").replace("19800515", "1980")
    batch = "\r".join(["FHS|^~\\&|EHR|GENHOSP", "BHS|^~\\&|EHR|GENHOSP", order, odd_birth,
                       year_only, "BTS|3", "FTS|1"])
    path = tmp_path / "batch.hl7"
    path.write_text(batch.replace("\r", "\n"))

    report = ingest(any_store, path)

    assert report.rejected == [], report.rejected
    placed = any_store.get_node("order:GENHOSP/ACC&0042")
    assert placed is not None and placed.properties["accession"] == "ACC&0042"
    assert placed.properties["last_seen"] == "2024-01-15T10:30:00.000000Z"  # 11:30+01:00 in UTC
    messages = sorted(n.message for n in report.notices)
    assert messages == ["PID-7 (birth date) gives a year only: left out",
                        "PID-7 (birth date) is not a plausible birth date: left out"]
    odd = any_store.get_node(patient_key("GENHOSP", "MRN555", SECRET))
    assert odd is not None and "birth_year_month" not in odd.properties
    assert "10131113" not in json.dumps(report.as_dict())
