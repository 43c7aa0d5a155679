"""Whole retention reports (drift, cross-region, holds) on a loaded store: p50 and max over
--runs runs after one warm-up, and each section's row count (so that two versions compared
side by side can be seen to give the same answers).

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.report_latency --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from lineage.retention import reports
from lineage.stores import Neo4jStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    found: dict[str, Any] = {}
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        for name, report in (("drift", reports.drift), ("cross_region", reports.cross_region),
                             ("holds", reports.holds)):
            report(store)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                answer = report(store)
                times.append(time.perf_counter() - started)
            found[name] = {"p50_s": round(statistics.median(times), 2),
                           "max_s": round(max(times), 2),
                           "rows": {k: len(v) for k, v in answer.items() if isinstance(v, list)}}
    print(json.dumps(found))


if __name__ == "__main__":
    main()
