"""Bulk first load (`lineage backfill`) against the pipeline, side by side on the same estate.

    NEO4J_HEAP=3g NEO4J_PAGECACHE=4g tools/neo4j/neo4j-local start
    python -m benchmarks.backfill --sizes S M --neo4j bolt://127.0.0.1:7687 --home /tmp/bf-home

For each size, in one run: (1) the estate through the pipeline into the server at --neo4j
(emptied first), batches of 5,000; (2) the same records through `backfill` into a second Neo4j
home (its jars linked from tools/neo4j's), started with the same heap and page cache on a free
port; (3) both databases' canonical digests, which must be equal. Also the rate of the
connector alone (generating the records), the ceiling of any Python-side loader. Prints a
table and writes benchmarks/results/backfill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.estate import SIZES, EstateShape
from lineage.backfill import Target, backfill
from lineage.backfill.digest import canonical_digest
from lineage.backfill.disk import folder_bytes
from lineage.backfill.import_files import default_writers
from lineage.ingest import ingest
from lineage.stores import Neo4jStore
from tools.local_process import free_port

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parents[1]
NEO4J_LOCAL = REPO / "tools" / "neo4j" / "neo4j-local"
BATCH = 5000


def generate_only(shape: EstateShape) -> dict[str, Any]:
    started, records = time.perf_counter(), 0
    for bundle in shape.records():
        records += len(bundle.items)
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": seconds, "records_per_second": records / seconds}


def pipeline(uri: str, shape: EstateShape) -> dict[str, Any]:
    with Neo4jStore(uri) as store:
        store.clear()
        started = time.perf_counter()
        report = ingest(store, shape.records(), "benchmark", batch_size=BATCH)
        seconds = time.perf_counter() - started
        records = sum(report.nodes_by_kind.values()) + sum(report.edges_by_type.values())
        digest = canonical_digest(store)
    return {"records": records, "seconds": seconds, "records_per_second": records / seconds,
            "digest": digest.sha256, "nodes": digest.nodes, "edges": digest.edges}


def bulk(home: Path, port: int, shape: EstateShape, digest: bool = True,
         writers: int | None = None) -> dict[str, Any]:
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_BOLT_PORT": str(port)}
    subprocess.run([str(NEO4J_LOCAL), "stop"], env=env, check=True, capture_output=True)
    start = shlex.join(["env", f"NEO4J_BOLT_PORT={port}", str(NEO4J_LOCAL), "start"])
    target = Target(home=home, uri=f"bolt://127.0.0.1:{port}", overwrite=True,
                    start_with=start, wait_seconds=600, writers=writers or default_writers())
    report = backfill([lambda staging: ingest(staging, shape.records(), "benchmark",
                                              batch_size=BATCH)], target)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = report.seconds
    offline = seconds["stage"] + seconds["files"] + seconds["import"]
    found = {"records": report.records, "seconds": seconds, "offline_seconds": offline,
             "records_per_second_offline": report.records / offline,
             "records_per_second_with_start": report.records / seconds["total"],
             "peak_rss_mib": round(peak), "nodes": report.nodes,
             "relationships": report.relationships, "leftovers": report.leftovers,
             "writers": target.writers,
             # the disk check's estimates against the files written and the store once served
             "disk": {**report.disk,
                      "store": folder_bytes(home / "data" / "databases" / target.database)}}
    if digest:
        with Neo4jStore(target.uri) as store:
            canonical = canonical_digest(store)
        found |= {"digest": canonical.sha256, "nodes": canonical.nodes, "edges": canonical.edges}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["S"])
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--home", type=Path, required=True,
                        help="A folder for the second Neo4j home (made; jars linked).")
    parser.add_argument("--backfill-only", action="store_true",
                        help="Only the backfill (size L once: its pipeline figure comes from "
                             "`benchmarks.scale --size L --pipeline-only`)")
    parser.add_argument("--writers", type=int, nargs="+", default=[default_writers()],
                        help="Processes writing the import files; several values: one backfill "
                             "each, in turn (--backfill-only)")
    parser.add_argument("--output", type=Path, default=RESULTS / "backfill.json")
    args = parser.parse_args()
    home: Path = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "lib").exists():
        (home / "lib").symlink_to(REPO / ".neo4j" / "lib")
    port = free_port()
    results: dict[str, Any] = {"machine": platform.platform(), "cores": os.cpu_count(),
                               "heap": os.environ.get("NEO4J_HEAP", "1g"),
                               "pagecache": os.environ.get("NEO4J_PAGECACHE", "256m")}
    try:
        for size in args.sizes:
            shape = EstateShape(SIZES[size])
            if args.backfill_only:
                results[size] = {"backfill": [bulk(home, port, shape, False, writers)
                                              for writers in args.writers]}
                for run in results[size]["backfill"]:
                    print(f"{size}: backfill {json.dumps(run)}", flush=True)
                continue
            row = {"generate_only": generate_only(shape), "pipeline": pipeline(args.neo4j, shape),
                   "backfill": bulk(home, port, shape, writers=args.writers[0])}
            row["equal"] = row["pipeline"]["digest"] == row["backfill"]["digest"]
            piped = row["pipeline"]["records_per_second"]
            row["ratio_offline"] = row["backfill"]["records_per_second_offline"] / piped
            row["ratio_with_start"] = row["backfill"]["records_per_second_with_start"] / piped
            results[size] = row
            print(f"{size}: {row['pipeline']['records']:,} records | connector alone "
                  f"{row['generate_only']['records_per_second']:,.0f}/s | pipeline "
                  f"{piped:,.0f}/s ({row['pipeline']['seconds']:.1f} s) | backfill offline "
                  f"{row['backfill']['records_per_second_offline']:,.0f}/s "
                  f"({row['backfill']['offline_seconds']:.1f} s: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in row["backfill"]["seconds"].items())
                  + f") = {row['ratio_offline']:.1f}x, with server start "
                  f"{row['ratio_with_start']:.1f}x | equal digests: {row['equal']}",
                  flush=True)
    finally:
        subprocess.run([str(NEO4J_LOCAL), "stop"], capture_output=True, check=False,
                       env={**os.environ, "NEO4J_HOME": str(home), "NEO4J_BOLT_PORT": str(port)})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
