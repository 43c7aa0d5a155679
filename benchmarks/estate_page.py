"""The web explorer's first page (`GET /estate`, `lineage.estate_overview`) on a loaded Neo4j
store, both ways in one run: every system's copies walked (`facts=False`, the query the page
ran before the estate's facts) and its sums read from the copies' write-time facts, alternating,
--runs times each, with a digest of the rows (both ways must give the same) and how the facts
way was answered. A first pass of each is reported apart: after a server start it is the one
that reads the store from disk.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.estate_page --runs 3 \
        [--as-of YYYY-MM-DD] [--note TEXT] [--output FILE]

--as-of asks for the estate at another moment (default: today), as `GET /estate?as_of=` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from lineage.estate_overview import estate_overview
from lineage.stores import Neo4jStore

WAYS = {"walk": False, "facts": True}


def one(store: Neo4jStore, facts: bool, as_of: str | None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    page = estate_overview(store, as_of, facts=facts)
    return time.perf_counter() - started, page


def digest(page: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(page["systems"], sort_keys=True).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--as-of", help="the moment asked (YYYY-MM-DD; default today)")
    parser.add_argument("--note", default="", help="the conditions, kept with the figures")
    parser.add_argument("--output", type=Path, help="also append the figures to this JSON file")
    args = parser.parse_args()
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    first: dict[str, float] = {}
    seen: dict[str, set[str]] = {way: set() for way in WAYS}
    answered: set[str] = set()
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        for run in range(args.runs + 1):
            for way, facts in WAYS.items():
                seconds, page = one(store, facts, args.as_of)
                if run:
                    times[way].append(seconds)
                else:
                    first[way] = seconds
                seen[way].add(digest(page))
                if facts:
                    answered.add(page["answered_from"])
                print(f"{way}: {seconds:.2f} s ({page['answered_from']})", flush=True)
        systems = page["count"]
        copies = sum(row["copies"] for row in page["systems"])
    found = {"note": args.note, "as_of": page["as_of"], "systems": systems, "live_copies": copies,
             "same_rows": len(seen["walk"] | seen["facts"]) == 1,
             "facts_answered_from": sorted(answered),
             "first_s": {way: round(seconds, 2) for way, seconds in first.items()},
             **{way: {"p50_s": round(statistics.median(values), 2),
                      "max_s": round(max(values), 2)} for way, values in times.items()}}
    print(json.dumps(found))
    if args.output:
        kept = json.loads(args.output.read_text()) if args.output.exists() else []
        args.output.write_text(json.dumps([*kept, found], indent=2) + "\n")


if __name__ == "__main__":
    main()
