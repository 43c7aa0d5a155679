"""A daily delta on a loaded estate: new studies with their copies, disposals and ADT updates,
ingested through the ingest service with retention recomputed for what they touched.

    python -m benchmarks.delta --size M --neo4j bolt://127.0.0.1:7687 [--day 1]

The store must hold the estate of --size (benchmarks.scale or benchmarks.backfill) with a
policy applied. Day N adds studies N*5,000 past the estate (so each day is new), disposes 1,000
existing copies and updates 100 patients (a new encounter moves the clock of all their copies).
Prints the seconds of the whole ingest and of the retention recompute inside it (the run
report's `retention.seconds`), and appends the figures to benchmarks/results/delta.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from benchmarks.estate import SECRET, SIZES, study_bundle
from lineage.identity import patient_key
from lineage.ingest import ingest
from lineage.model import Confidence, Node, Provenance, object_key
from lineage.pipeline import Bundle
from lineage.retention import apply as retention_apply
from lineage.stores import Neo4jStore

RESULTS = Path(__file__).parent / "results" / "delta.json"


def _nth_day(first: date, day: int) -> str:
    """Day `day` counted from `first` (day 1), past the month's end as the calendar does."""
    return (first + timedelta(days=day - 1)).isoformat()


def delta(size: int, day: int, new: int, disposals: int, updates: int) -> Iterator[Bundle]:
    start = size + (day - 1) * new
    for index in range(start, start + new):
        yield study_bundle(index, random.Random(index))
    prov = Provenance("benchmark:daily", _nth_day(date(2026, 6, 1), day), Confidence.OBSERVED)
    rng = random.Random(day)
    for study in rng.sample(range(size), disposals):
        copy = object_key("VNA", f"2.25.{study + 1}.1")
        yield Bundle((Node(copy, prov, {"disposed_at": _nth_day(date(2026, 5, 1), day)}),), copy)
    for number in rng.sample(range(size // 3), updates):
        patient = patient_key("BENCH", f"P{number:07d}", SECRET)
        encounter = _nth_day(date(2026, 5, 1), day)
        yield Bundle((Node(patient, prov, {"last_encounter": encounter}),), patient)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="M")
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--day", type=int, default=1)
    parser.add_argument("--new", type=int, default=5000)
    parser.add_argument("--disposals", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--note", help="the conditions of the run, kept with its figures "
                        "(e.g. 'first after a server start')")
    args = parser.parse_args()
    with Neo4jStore(args.neo4j) as store:
        if retention_apply.applied_policy(store) is None:
            raise SystemExit("apply a retention policy to the estate first")
        started = time.perf_counter()
        report = ingest(store, delta(SIZES[args.size], args.day, args.new, args.disposals,
                                     args.updates), "benchmark:daily", batch_size=5000,
                        retention_every=3600)
        seconds = time.perf_counter() - started
    records = sum(report.nodes_by_kind.values()) + sum(report.edges_by_type.values())
    result = {"size": args.size, "day": args.day, "new_studies": args.new,
              "disposals": args.disposals, "patient_updates": args.updates,
              "records": records, "seconds": round(seconds, 2),
              "retention_seconds": report.extra.get("retention", {}).get("seconds"),
              "recomputed_copies": report.extra.get("retention", {}).get("recomputed"),
              "rejected": len(report.rejected)}
    if args.note:
        result["note"] = args.note
    print(json.dumps(result))
    RESULTS.parent.mkdir(exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([*runs, result], indent=2) + "\n")


if __name__ == "__main__":
    main()
