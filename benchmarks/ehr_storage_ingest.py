"""HL7 v2 over MLLP and S3 event ingestion rates, beside the parse-only rate of the same input.

    python -m benchmarks.ehr_storage_ingest [--messages 2000] [--events 20000] [--neo4j bolt://]

1. HL7: N ADT^A08/ORM^O01 messages; parse-only (the connector's parser and transform, no store)
   beside a real MLLP round trip into the local store: a listener on loopback, one client sending
   each message and waiting for its AA, then the inbox drained into the store.
2. S3: N ObjectCreated records over N/20 series in one bucket; parse-only (event parsing and key
   mapping) beside ingestion into Neo4j (NEO4J_URI or --neo4j; cleared first), and into the local
   store. Writes benchmarks/results/ehr_storage_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from connectors.hl7 import Hl7Source, message_records
from connectors.hl7_message import frame, unframe
from connectors.inbox import Inbox
from connectors.mllp import Hl7Listener
from connectors.patients import current_studies
from connectors.storage_events import (
    KeyPatterns,
    ObjectState,
    StorageSource,
    copy_of,
    event_records,
    parse_s3,
)
from lineage.ingest import ingest
from lineage.stores import GraphStore, LocalStore, Neo4jStore

RESULTS = Path(__file__).parent / "results" / "ehr_storage_ingest.json"
SECRET = b"b" * 32


def hl7_messages(count: int) -> list[str]:
    messages = []
    for i in range(count):
        if i % 2:
            messages.append(
                f"MSH|^~\\&|RIS|GENHOSP|PACS|GENHOSP|20240115110000||ORM^O01|M{i}|P|2.3.1\r"
                f"PID|1||MRN{i:06d}^^^GENHOSP^MR||DOE^J||19800515|F\r"
                f"ORC|NW|P{i}^EHR|F{i}^RIS||SC||||20240115110000\r"
                f"OBR|1|P{i}^EHR|F{i}^RIS|CT^CT||||||||||||||ACC{i:06d}||||||CT\r"
                f"ZDS|1.2.826.0.1.3680043.8.498.{i}^RIS^Application^DICOM")
        else:
            messages.append(
                f"MSH|^~\\&|EHR|GENHOSP|RIS|GENHOSP|20240301090000||ADT^A08^ADT_A01|M{i}|P|2.5\r"
                f"PID|1||MRN{i:06d}^^^GENHOSP^MR||DOE^J||19800515|F")
    return messages


def s3_documents(count: int) -> list[tuple[str, Any]]:
    records = [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
                "eventTime": "2024-03-01T12:00:00Z", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "bench-bucket"}, "object": {
                    "key": f"studies/1.2.{i // 200}/series/1.2.{i // 200}.{i // 20}/{i}.dcm",
                    "size": 1000, "sequencer": f"{i:016X}"}}} for i in range(count)]
    return [(f"batch{n}", {"Records": records[n:n + 1000]}) for n in range(0, count, 1000)]


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def hl7_parse_only(messages: list[str]) -> None:
    source = Hl7Source("EHR", SECRET)
    for i, text in enumerate(messages):
        message_records(text, source, f"m{i}", lambda _: [])


def hl7_over_mllp(messages: list[str], folder: Path) -> None:
    with LocalStore(folder / "hl7.db") as store:
        inbox = Inbox(folder / "hl7.inbox")
        listener = Hl7Listener(store, Hl7Source("EHR", SECRET), inbox, current_studies(store))
        bound: list[int] = []
        server = threading.Thread(target=listener.serve, args=("127.0.0.1", 0, bound.append))
        server.start()
        while not bound:
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", bound[0])) as connection:
            buffer = bytearray()
            for text in messages:
                connection.sendall(frame(text))
                while not unframe(buffer):
                    buffer.extend(connection.recv(65536))
        while inbox.counts()["pending"]:
            time.sleep(0.01)
        listener.stop()
        server.join()
        inbox.close()


def s3_parse_only(documents: list[tuple[str, Any]]) -> None:
    patterns = KeyPatterns.of()
    for location, document in documents:
        for event in parse_s3(document, location):
            copy_of(event, patterns)  # type: ignore[arg-type]


def s3_ingest(store: GraphStore, documents: list[tuple[str, Any]], folder: Path) -> None:
    state = ObjectState(folder / f"s3-{type(store).__name__}.state")
    source = StorageSource("s3", KeyPatterns.of())
    ingest(store, event_records(documents, source, state), "s3")
    state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI"))
    args = parser.parse_args()
    messages, documents = hl7_messages(args.messages), s3_documents(args.events)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        seconds["hl7 parse only"] = timed(lambda: hl7_parse_only(messages))
        seconds["hl7 over MLLP into local store"] = timed(lambda: hl7_over_mllp(messages, folder))
        seconds["s3 parse only"] = timed(lambda: s3_parse_only(documents))
        with LocalStore(folder / "s3.db") as local:
            seconds["s3 events into local store"] = timed(
                lambda: s3_ingest(local, documents, folder))
        if args.neo4j:
            with Neo4jStore(args.neo4j) as neo4j:
                neo4j.clear()
                seconds["s3 events into Neo4j"] = timed(
                    lambda: s3_ingest(neo4j, documents, folder))
                neo4j.clear()
    sizes = {name: args.messages if name.startswith("hl7") else args.events for name in seconds}
    rates = {name: sizes[name] / s for name, s in seconds.items()}
    print(f"{args.messages} HL7 messages, {args.events} S3 events; {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{'measurement':34} {'seconds':>8} {'per second':>11} {'vs parse only':>14}")
    for name, value in seconds.items():
        base = rates["hl7 parse only" if name.startswith("hl7") else "s3 parse only"]
        print(f"{name:34} {value:8.2f} {rates[name]:11.0f} {rates[name] / base:14.1%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"messages": args.messages, "events": args.events,
                                   "cores": os.cpu_count(), "seconds": seconds, "per_second": rates,
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                  indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
