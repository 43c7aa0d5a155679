"""PROFILE of every report query on a loaded Neo4j store: rows, db hits summed over the plan,
seconds, and the operators that read nodes (scans or seeks). Run it in two worktrees against
the same store to compare query versions side by side.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.profile_reports
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from lineage.retention import reports
from lineage.stores import Neo4jStore
from lineage.stores.cypher import query
from queries import retention

NAMES = ["DRIFT_POLICY", "DRIFT_UNKNOWN", "DRIFT_OVER_RETAINED", "DRIFT_OVER_RETAINED_BY_KEY",
         "DRIFT_OVER_RETAINED_TALLIED", "DRIFT_OVER_RETAINED_TOTALS", "DRIFT_PREMATURE",
         "CROSS_REGION_CONFLICTS", "RESIDENCY_VIOLATIONS", "UNCOMPUTED_COPIES", "HOLDS_ACTIVE",
         "HOLDS_CONFLICTS", "HOLDS_RESTORE_NEEDED"]


def _hits(plan: dict[str, Any]) -> int:
    return int(plan.get("dbHits", 0)) + sum(_hits(child) for child in plan.get("children", []))


def _operators(plan: dict[str, Any]) -> list[str]:
    return [plan["operatorType"].split("@")[0],
            *(name for child in plan.get("children", []) for name in _operators(child))]


def main() -> None:
    found: dict[str, Any] = {}
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        params, _ = reports._params(store, None)
        params |= {"after": "", "offset": 0, "limit": 1000, "scan": 20_000}  # the API's first page
        for name in NAMES:
            library_query = getattr(retention, name, None)
            if library_query is None:  # not in this version of the library
                continue
            with store.driver.session(database=store.database) as session:
                started = time.perf_counter()
                result = session.run(query("PROFILE " + library_query.cypher()), params)
                rows = len(list(result))
                summary = result.consume()
                seconds = time.perf_counter() - started
            plan = summary.profile or {}
            found[library_query.name] = {
                "rows": rows, "db_hits": _hits(plan), "seconds": round(seconds, 2),
                "access": sorted({op for op in _operators(plan) if "Scan" in op or "Seek" in op})}
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
