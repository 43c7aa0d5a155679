"""Exporting the over-retained copies on a loaded, applied store: every copy through
`reports.over_retained` pages after a key (what `lineage retention over-retained` streams), then
deep pages asked three ways, alternating: a drift page at an offset (what an offset page costs),
the listing after the key before it, and a drift page after that key. Prints rows, seconds,
rows/s, the pages' p50 and max, and the process's peak memory; checks that the three ways give
the same page.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.over_retained_export \
        [--page 10000] [--depths 100000 1000000] [--rounds 2] [--whole] [--output FILE]

`--whole` also times the whole drift report (every over-retained copy in one answer, as the CLI
without --limit gives it) once, after the export.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lineage.retention import reports
from lineage.stores import Neo4jStore
from lineage.timefmt import utc_now
from queries.library import Row

PAGE = 1000  # the API's default page


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export(store: Neo4jStore, as_of: str, page_size: int, depths: list[int]
           ) -> tuple[dict[str, Any], dict[int, str]]:
    """Every over-retained copy a page at a time; the key before each depth asked."""
    cursors: dict[int, str] = {}
    seconds: list[float] = []
    rows, after = 0, ""
    started = time.perf_counter()
    while True:
        began = time.perf_counter()
        page = reports.over_retained(store, as_of, after=after, limit=page_size)
        seconds.append(time.perf_counter() - began)
        for depth in depths:
            if rows < depth <= rows + len(page["copies"]):
                cursors[depth] = page["copies"][depth - rows - 1]["key"]
        rows += len(page["copies"])
        if page["next"] is None:
            break
        after = page["next"]
    total = time.perf_counter() - started
    return {"rows": rows, "pages": len(seconds), "seconds": round(total, 1),
            "rows_per_s": round(rows / total), "page_p50_s": round(statistics.median(seconds), 3),
            "page_max_s": round(max(seconds), 3), "first_page_s": round(seconds[0], 3),
            "peak_rss_mib": peak_mib()}, cursors


def deep_pages(store: Neo4jStore, as_of: str, depth: int, cursor: str, rounds: int
               ) -> dict[str, Any]:
    """A page of 1,000 at `depth`, three ways, alternating."""
    ways: dict[str, Callable[[], list[Row]]] = {
        "drift_offset": lambda: reports.drift(store, as_of, offset=depth, limit=PAGE)[
            "over_retained"],
        "listing_after": lambda: reports.over_retained(store, as_of, after=cursor, limit=PAGE)[
            "copies"],
        "drift_after": lambda: reports.drift(store, as_of, limit=PAGE, after=cursor)[
            "over_retained"],
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    answers: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, way in ways.items():
            began = time.perf_counter()
            found = way()
            times[name].append(time.perf_counter() - began)
            answers[name] = [row["key"] for row in found]
    same = len({json.dumps(keys) for keys in answers.values()}) == 1
    return {"depth": depth, "same_page": same, "rows": len(answers["listing_after"]),
            **{f"{name}_s": [round(t, 2) for t in spent] for name, spent in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page", type=int, default=10_000, help="rows per export page")
    parser.add_argument("--depths", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whole", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    as_of = utc_now()
    found: dict[str, Any] = {"as_of": as_of, "cores": os.cpu_count()}
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        found["export"], cursors = export(store, as_of, args.page, args.depths)
        print(json.dumps(found["export"]), flush=True)
        found["deep_pages"] = []
        for depth in args.depths:
            if depth in cursors:
                found["deep_pages"].append(deep_pages(store, as_of, depth, cursors[depth],
                                                      args.rounds))
                print(json.dumps(found["deep_pages"][-1]), flush=True)
        if args.whole:
            began = time.perf_counter()
            whole = reports.drift(store, as_of)
            found["whole_drift"] = {"seconds": round(time.perf_counter() - began, 1),
                                    "over_retained": len(whole["over_retained"]),
                                    "peak_rss_mib": peak_mib()}
            print(json.dumps(found["whole_drift"]), flush=True)
    if args.output:
        args.output.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
