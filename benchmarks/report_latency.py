"""Whole retention reports (drift, cross-region, holds) and a decommission on a loaded store:
p50 and max over --runs runs after one warm-up, and each section's row count (so that two
versions compared side by side can be seen to give the same answers). `drift_page` is drift
with the over-retained copies and the policy-drift studies cut to the API's default page
(1,000), as `GET /retention/drift` and `lineage retention drift --limit 1000` ask for it;
drift's cost is printed beside the counts. `cross_region_page` is cross-region with both its
lists cut to that page. Sections the store pages give their counts in all under `in_all`.
`decommission` is the scale benchmark's (its system, a page of 100), with its counts.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.report_latency --runs 3 \
        [--reports drift drift_page cross_region cross_region_page holds decommission] \
        [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.scale import DECOMMISSIONED
from lineage.impact import decommission
from lineage.retention import reports
from lineage.stores import GraphStore, Neo4jStore

REPORTS: dict[str, Callable[[GraphStore], dict[str, Any]]] = {
    "drift": reports.drift, "drift_page": lambda store: reports.drift(store, limit=1000),
    "cross_region": reports.cross_region,
    "cross_region_page": lambda store: reports.cross_region(store, limit=1000),
    "holds": reports.holds,
    "decommission": lambda store: decommission(store, DECOMMISSIONED, limit=100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reports", nargs="+", choices=sorted(REPORTS), default=sorted(REPORTS))
    parser.add_argument("--output", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    found: dict[str, Any] = {}
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        for name in args.reports:
            report = REPORTS[name]
            report(store)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                answer = report(store)
                times.append(time.perf_counter() - started)
            found[name] = {"p50_s": round(statistics.median(times), 2),
                           "max_s": round(max(times), 2),
                           "rows": {k: len(v) for k, v in answer.items() if isinstance(v, list)}}
            if "counts" in answer:
                found[name]["counts"] = answer["counts"]
            for shown in ("holdings", "answered_from"):  # a decommission's
                if shown in answer:
                    found[name][shown] = answer[shown]
            in_all = {k: v for k, v in answer.items() if k.endswith("_count")}
            if in_all:
                found[name]["in_all"] = in_all
            if "cost" in answer:
                found[name] |= {"over_retained_count": answer.get("over_retained_count"),
                                "cost": answer["cost"]}
    print(json.dumps(found))
    if args.output:
        args.output.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
