"""Scale benchmarks on the synthetic estate (benchmarks/estate.py).

    python -m benchmarks.scale --size S [--neo4j bolt://...] [--runs 20]
    python -m benchmarks.scale --size M --skip-curve --rounds 1
    python -m benchmarks.scale --size L --skip-local --skip-curve --pipeline-only --skip-retention
    python -m benchmarks.scale --size L --skip-local --estate-loaded   # then: apply, latencies

For the size asked, in one run:
1. Neo4j ingest through the real pipeline (records/s; records = nodes + edges), beside the raw
   driver ceiling on the same rows (plain batched UNWIND/MERGE, the same constraints) twice:
   with the reported properties only, and with the payload the pipeline stores (reported
   properties + provenance fields), in --rounds rounds; and a batch-size curve on the first
   2,000 studies;
2. idempotent re-ingest of the same records: nodes and edges created must be zero;
3. `retention apply` on Neo4j;
4. latency p50/p95 over --runs runs each of decommission (CLOUD-VIRGINIA, ~8% of studies),
   trace (depth 5, both directions, from a series) and retention drift, on Neo4j and on the
   local store;
5. local store: load time, and the time and peak memory per edge of opening the file in a
   fresh process (that child's max RSS).
Prints tables and writes benchmarks/results/scale-<size>.json. With --estate-loaded (a long run
in two sittings) the Neo4j store already holds the estate: steps 1-2 are skipped and the
figures measured are added to that file's earlier ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.estate import SIZES, EstateShape
from lineage.impact import decommission, trace
from lineage.ingest import ingest as ingest_records
from lineage.merge import new_element
from lineage.model import Edge, Node, kind_of
from lineage.retention import reports
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore, LocalStore, Neo4jStore
from lineage.stores.cypher import query

RESULTS = Path(__file__).parent / "results"
DECOMMISSIONED = "CLOUD-VIRGINIA"


def pipeline_ingest(store: GraphStore, shape: EstateShape, batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = ingest_records(store, shape.records(), "benchmark", batch_size=batch)
    seconds = time.perf_counter() - started
    records = sum(report.nodes_by_kind.values()) + sum(report.edges_by_type.values())
    return {"seconds": seconds, "records": records, "records_per_second": records / seconds,
            "nodes_created": report.written.nodes_created,
            "edges_created": report.written.edges_created}


def raw_ceiling(store: Neo4jStore, shape: EstateShape, batch: int,
                provenance: bool = False) -> dict[str, Any]:
    """Plain batched UNWIND/MERGE per label and relationship type, one transaction a batch.
    `provenance`: write each record's properties as stored for a first sighting (reported
    properties + the provenance fields), the payload the pipeline writes."""

    def payload(item: Node | Edge) -> dict[str, Any]:
        return new_element(item.properties, item.provenance) if provenance else item.properties

    started, records = time.perf_counter(), 0
    pending: list[Node | Edge] = []

    def flush() -> None:
        nodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        edges: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for item in pending:
            if isinstance(item, Node):
                nodes[item.kind.value].append({"key": item.key, "props": payload(item)})
            else:
                edges[(kind_of(item.src).value, item.type.value, kind_of(item.dst).value)].append(
                    {"src": item.src, "dst": item.dst, "props": payload(item)})

        def work(tx: Any) -> None:
            for label, rows in nodes.items():
                tx.run(query(f"UNWIND $rows AS row MERGE (n:`{label}` {{key: row.key}}) "
                             "SET n += row.props"), rows=rows).consume()
            for (src, kind, dst), rows in edges.items():
                tx.run(query(f"UNWIND $rows AS row MERGE (s:`{src}` {{key: row.src}}) "
                             f"MERGE (t:`{dst}` {{key: row.dst}}) MERGE (s)-[r:`{kind}`]->(t) "
                             "SET r += row.props"), rows=rows).consume()

        with store.driver.session(database=store.database) as session:
            session.execute_write(work)
        pending.clear()

    for bundle in shape.records():
        pending.extend(bundle.items)
        records += len(bundle.items)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": records, "records_per_second": records / seconds}


def latencies(name: str, action: Callable[[], Any], runs: int) -> dict[str, float]:
    action()  # warm caches and plans once
    times = []
    for run in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
        print(f"{name} run {run + 1}/{runs}: {times[-1]:.0f} ms", file=sys.stderr, flush=True)
    times.sort()
    return {"runs": runs, "p50_ms": statistics.median(times),
            "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}


def query_latencies(store: GraphStore, shape: EstateShape, runs: int,
                    drift: bool = True) -> dict[str, Any]:
    rng = random.Random(7)
    roots = [f"series:2.25.{rng.randrange(shape.studies) + 1}.1" for _ in range(runs + 1)]
    cycle = iter(roots * 2)
    actions: dict[str, Callable[[], Any]] = {
        "decommission": lambda: decommission(store, DECOMMISSIONED, limit=100),
        "trace_depth_5": lambda: trace(store, next(cycle), "both", 5, max_nodes=1000),
    }
    if drift:
        actions["retention_drift"] = lambda: reports.drift(store)
        actions["cross_region"] = lambda: reports.cross_region(store)
        actions["holds"] = lambda: reports.holds(store)
    return {name: latencies(name, action, runs) for name, action in actions.items()}


def local_load(size: str, path: Path) -> dict[str, Any]:
    """In this process: load the estate into a fresh local store, apply retention."""
    shape = EstateShape(SIZES[size])
    with LocalStore(path) as store:
        result = pipeline_ingest(store, shape, 5000)
        apply_retention(store, load_policy())
    result["load_max_rss_bytes"] = _max_rss()
    return result


def local_open(path: Path) -> dict[str, Any]:
    """In this process: open the store file (SQLite to the NetworkX view), as a user does, and
    measure the time and the peak memory it takes."""
    started = time.perf_counter()
    with LocalStore(path) as store:
        result: dict[str, Any] = {"open_seconds": time.perf_counter() - started,
                                  "edges": store.graph.number_of_edges(),
                                  "nodes": store.graph.number_of_nodes()}
    result["max_rss_bytes"] = _max_rss()
    result["bytes_per_edge"] = result["max_rss_bytes"] / max(1, result["edges"])
    return result


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(*arguments: str) -> dict[str, Any]:
    child = subprocess.run([sys.executable, "-m", "benchmarks.scale", *arguments],
                           capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the ingest comparison (medians are reported)")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="Neo4j: ingest through the pipeline once, without the ceilings "
                             "and the re-ingest (size L)")
    parser.add_argument("--skip-retention", action="store_true",
                        help="Neo4j: no retention apply, hence no drift latency")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--estate-loaded", action="store_true",
                        help="Neo4j: the store already holds this size's estate (an earlier run "
                             "with --pipeline-only): no ingest; the results are added to that "
                             "run's")
    parser.add_argument("--output", type=Path,
                        help="the results' JSON file (default benchmarks/results/scale-SIZE.json)")
    parser.add_argument("--local-load-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--local-open-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.local_load_only:
        print(json.dumps(local_load(args.size, args.local_load_only)))
        return
    if args.local_open_only:
        print(json.dumps(local_open(args.local_open_only)))
        return
    shape = EstateShape(SIZES[args.size])
    output: Path = args.output or RESULTS / f"scale-{args.size}.json"
    earlier = json.loads(output.read_text()) if args.estate_loaded and output.exists() else {}
    results: dict[str, Any] = earlier | {"size": args.size, "studies": shape.studies,
                                         "cores": os.cpu_count(),
                                         "python": platform.python_version()}
    try:
        _run(args, shape, results)
    finally:  # what was measured is kept even when a later step fails
        _print(results)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {output}")


def _run(args: argparse.Namespace, shape: EstateShape, results: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_local:
            database = f"{folder}/local.db"
            results["local_load"] = _child("--size", args.size, "--local-load-only", database)
            results["local_load"] |= _child("--local-open-only", database)
            with LocalStore(f"{folder}/local.db") as local:
                results["local_latency"] = query_latencies(local, shape, args.runs)
        if args.neo4j:
            neo4j_benchmarks(args, shape, results)


def ingest_rounds(neo4j: Neo4jStore, shape: EstateShape, rounds: int,
                  found: dict[str, Any]) -> None:
    """Rounds of (bare ceiling, same-payload ceiling, pipeline), each into an empty database:
    the figures kept are each one's median round, and the ratios the medians of each round's
    side-by-side ratios (a shared machine drifts between rounds more than within one)."""
    contenders: dict[str, Callable[[], dict[str, Any]]] = {
        "raw_ceiling": lambda: raw_ceiling(neo4j, shape, 5000),
        "raw_ceiling_same_payload": lambda: raw_ceiling(neo4j, shape, 5000, provenance=True),
        "ingest": lambda: pipeline_ingest(neo4j, shape, 5000),
    }
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _ in range(rounds):
        for name, ingest in contenders.items():
            neo4j.clear()
            runs[name].append(ingest())
    for name, rows in runs.items():
        found[name] = sorted(rows, key=lambda r: r["records_per_second"])[len(rows) // 2]
        found[name]["rounds_records_per_second"] = [r["records_per_second"] for r in rows]
    for ceiling in ("raw_ceiling", "raw_ceiling_same_payload"):
        found["ingest"][f"ratio_to_{ceiling}"] = statistics.median(
            mine["records_per_second"] / theirs["records_per_second"]
            for mine, theirs in zip(runs["ingest"], runs[ceiling], strict=True))


def neo4j_benchmarks(args: argparse.Namespace, shape: EstateShape, found: dict[str, Any]) -> None:
    with Neo4jStore(args.neo4j) as neo4j:
        if not args.skip_curve and not args.estate_loaded:
            small = EstateShape(min(2000, shape.studies))
            curve = {}
            for batch in (250, 1000, 2500, 5000):
                neo4j.clear()
                curve[batch] = pipeline_ingest(neo4j, small, batch)["records_per_second"]
            found["batch_curve_records_per_second"] = curve
        if args.estate_loaded:
            last, beyond = (f"study:2.25.{n}" for n in (shape.studies, shape.studies + 1))
            if neo4j.get_node(last) is None or neo4j.get_node(beyond) is not None:
                raise SystemExit(f"--estate-loaded: the Neo4j store does not hold size "
                                 f"{args.size}'s estate (its last study {last})")
        elif args.pipeline_only:
            neo4j.clear()
            found["ingest"] = pipeline_ingest(neo4j, shape, 5000)
        else:
            ingest_rounds(neo4j, shape, args.rounds, found)  # the store ends holding the estate
            found["reingest"] = pipeline_ingest(neo4j, shape, 5000)
        if not args.skip_retention:
            started = time.perf_counter()
            apply_retention(neo4j, load_policy(), progress=_Progress("retention apply"))
            found["retention_apply_seconds"] = time.perf_counter() - started
        found["neo4j_latency"] = query_latencies(neo4j, shape, args.runs,
                                                 drift=not args.skip_retention)


class _Progress:
    """Copies done so far, on stderr, every 100,000 (a run at L takes the best part of an hour)."""

    def __init__(self, name: str) -> None:
        self.name, self.done, self.started = name, 0, time.perf_counter()

    def __call__(self, count: int) -> None:
        if (self.done + count) // 100_000 > self.done // 100_000:
            seconds = time.perf_counter() - self.started
            print(f"{self.name}: {self.done + count:,} in {seconds:.0f} s", file=sys.stderr,
                  flush=True)
        self.done += count


def _print(results: dict[str, Any]) -> None:
    print(f"size {results['size']}: {results['studies']:,} studies; {results['cores']} cores")
    for name in ("raw_ceiling", "raw_ceiling_same_payload", "ingest", "reingest"):
        if name in results:
            row = results[name]
            extra = "".join(f", {row[f'ratio_to_{c}']:.0%} of {c}" for c in
                            ("raw_ceiling", "raw_ceiling_same_payload") if f"ratio_to_{c}" in row)
            created = (f", created {row['nodes_created']} nodes / {row['edges_created']} edges"
                       if "nodes_created" in row else "")
            print(f"neo4j {name:24} {row['records']:>10,} records {row['seconds']:8.1f} s "
                  f"{row['records_per_second']:9.0f}/s{extra}{created}")
    if "batch_curve_records_per_second" in results:
        print("batch curve:", {k: round(v) for k, v in
                               results["batch_curve_records_per_second"].items()})
    if "retention_apply_seconds" in results:
        print(f"neo4j retention apply {results['retention_apply_seconds']:.1f} s")
    if "local_load" in results:
        load = results["local_load"]
        print(f"local load {load['seconds']:.1f} s ({load['records_per_second']:.0f} records/s, "
              f"peak {load['load_max_rss_bytes'] / 2**20:.0f} MiB); open {load['open_seconds']:.1f}"
              f" s, {load['edges']:,} edges, peak {load['max_rss_bytes'] / 2**20:.0f} MiB = "
              f"{load['bytes_per_edge']:.0f} B/edge")
    for store in ("neo4j_latency", "local_latency"):
        for name, row in results.get(store, {}).items():
            print(f"{store:14} {name:16} p50 {row['p50_ms']:8.1f} ms  p95 {row['p95_ms']:8.1f} ms"
                  f"  ({row['runs']} runs)")


if __name__ == "__main__":
    main()
