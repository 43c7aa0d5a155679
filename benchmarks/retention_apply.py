"""Retention recomputation rate (copies/s) on the local store and on Neo4j, same estate.

    python -m benchmarks.retention_apply [--copies 20000] [--neo4j bolt://...] [--rounds 1]
        [--breakdown [--neo4j-home DIR]] [--output FILE]

Builds an estate of patients, studies, series and copies (two copies per series, in regions of
four jurisdictions), loads it into each store, then times `apply_retention` with the default
pack (batched passes of 5,000). On Neo4j each round also times the bare write of what the apply
wrote (every property it changed on each copy, retention, tally and holding facts and their
provenance, set with `SET +=`, and the same GOVERNED_BY edges created, pages of 5,000, one
transaction each, on the same estate freshly loaded): the ceiling of any apply that writes its
results, with no reading, computing or merging. `--breakdown` then times one more apply with
one page at a time, step by step (each query, the computation, the merged writes), with the
client's CPU time and, given the server's `--neo4j-home` on this machine, the server's. Writes
benchmarks/results/retention_apply.json (or `--output`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neo4j import ManagedTransaction

from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.retention import apply, neo4j_writes
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore, LocalStore, Neo4jStore
from lineage.stores.cypher import query

RESULTS = Path(__file__).parent / "results" / "retention_apply.json"
SYSTEMS = {"PACS-LON": "onprem-london", "S3-US": "us-east-1", "GCS-DE": "europe-west3",
           "AZ-FR": "francecentral"}


def estate(copies: int, seed: int = 7) -> list[tuple[list[Node], list[Edge]]]:
    """Batches of records: copies/2 series, one per study, patients shared by 3 studies."""
    rng = random.Random(seed)
    prov = Provenance("bench", "2026-01-01")
    systems = [Node(system_key(code), prov, {"region_code": region})
               for code, region in SYSTEMS.items()]
    batches: list[tuple[list[Node], list[Edge]]] = [(systems, [])]
    nodes: list[Node] = []
    edges: list[Edge] = []
    for i in range(copies // 2):
        patient = f"patient:{i // 3:064x}"
        study, series = f"study:9.{i}", f"series:9.{i}.1"
        birth = f"{rng.randint(1930, 2020)}-0{rng.randint(1, 9)}"
        day = f"{rng.randint(1995, 2025)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        nodes += [Node(patient, prov, {"birth_year_month": birth}),
                  Node(study, prov, {"study_date": day}),
                  Node(series, prov, {"modality": rng.choice(["CT", "MR", "MG", "CR"])})]
        edges += [Edge(study, EdgeType.OF_PATIENT, patient, prov),
                  Edge(series, EdgeType.PART_OF, study, prov)]
        for code in rng.sample(sorted(SYSTEMS), 2):
            copy = object_key(code, f"9.{i}.1")
            nodes.append(Node(copy, prov, {"bytes": rng.randint(10**6, 10**9)}))
            edges += [Edge(copy, EdgeType.COPY_OF, series, prov),
                      Edge(copy, EdgeType.STORED_IN, system_key(code), prov)]
        if len(nodes) >= 5000:
            batches.append((nodes, edges))
            nodes, edges = [], []
    batches.append((nodes, edges))
    return batches


Batches = list[tuple[list[Node], list[Edge]]]
PAGE = 5000


def load(store: GraphStore, batches: Batches) -> float:
    store.clear()
    started = time.perf_counter()
    for nodes, edges in batches:
        store.upsert(nodes, edges)
    return time.perf_counter() - started


def measure(store: GraphStore, batches: Batches) -> dict[str, float]:
    loaded = load(store, batches)
    report = apply_retention(store, load_policy(), batch_size=PAGE)
    return {"load_seconds": loaded, "apply_seconds": report.seconds,
            "copies": report.objects, "copies_per_second": report.objects / report.seconds}


COPIES = query("MATCH (o:ArchiveObject) RETURN o.key AS key, properties(o) AS props")
GOVERNED = query("MATCH (o:ArchiveObject)-[g:GOVERNED_BY]->(p) "
                 "RETURN o.key AS key, p.key AS policy, properties(g) AS props")
BARE_POLICIES = query("UNWIND $keys AS key MERGE (:RetentionPolicy {key: key})")
BARE_PROPERTIES = query(
    "UNWIND $rows AS row MATCH (o:ArchiveObject {key: row.key}) SET o += row.props")
BARE_EDGES = query(
    "UNWIND $rows AS row MATCH (o:ArchiveObject {key: row.key}) "
    "MATCH (p:RetentionPolicy {key: row.policy}) CREATE (o)-[g:GOVERNED_BY]->(p) SET g = row.props")


def _copies(store: Neo4jStore) -> dict[str, dict[str, Any]]:
    return {row["key"]: row["props"] for row in store.read_rows(COPIES, {})}


def bare_write(store: Neo4jStore, batches: Batches) -> dict[str, float]:
    """What the apply just wrote, written again with nothing else to do: see the docstring."""
    applied = _copies(store)
    governed: dict[str, list[Any]] = {}
    for row in store.read_rows(GOVERNED, {}):
        governed.setdefault(row["key"], []).append(row)
    load(store, batches)
    loaded = _copies(store)
    written: list[dict[str, Any]] = [
        {"key": key, "props": {name: value for name, value in props.items()
                               if loaded[key].get(name) != value}}
        for key, props in sorted(applied.items())]
    pages = [(written[start:start + PAGE],
              [edge for row in written[start:start + PAGE]
               for edge in governed.get(str(row["key"]), [])])
             for start in range(0, len(written), PAGE)]  # built before the clock starts
    store.execute_write(lambda tx: tx.run(BARE_POLICIES, keys=sorted(
        {edge["policy"] for _, edges in pages for edge in edges})).consume())
    started = time.perf_counter()
    for rows, edges in pages:

        def work(tx: ManagedTransaction, rows: list[Any] = rows,
                 edges: list[dict[str, Any]] = edges) -> None:
            tx.run(BARE_PROPERTIES, rows=rows).consume()
            tx.run(BARE_EDGES, rows=edges).consume()

        store.execute_write(work)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "copies": len(written), "copies_per_second": len(written) / seconds}


class StepClock:
    """Wall time spent in each step of an apply: each query by name, the computation, the
    merged writes (the module functions `apply_retention` calls, wrapped while it runs)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def _add(self, step: str, started: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started

    def wrap(self, module: Any, name: str, step: Callable[..., str]) -> None:
        real = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self._add(step(*args), started)

        self._saved.append((module, name, real))
        setattr(module, name, timed)

    def __enter__(self) -> StepClock:
        self.wrap(apply, "run_query", lambda store, named, *rest: f"query {named.name}")
        self.wrap(apply, "compute_page", lambda *args: "compute (Python)")
        self.wrap(neo4j_writes, "write_merged", lambda *args: "write copies (lock, merge, SET)")
        self.wrap(neo4j_writes, "write_merged_nodes", lambda *args: "write study facts")
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, real in reversed(self._saved):
            setattr(module, name, real)


def _server_cpu(neo4j_home: Path | None) -> float | None:
    """CPU seconds the Neo4j server of `neo4j_home` (on this machine) has used."""
    if neo4j_home is None:
        return None
    pid = (neo4j_home / "run" / "neo4j.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def breakdown(store: Neo4jStore, batches: Batches, neo4j_home: Path | None) -> dict[str, Any]:
    """One apply, a page at a time, step by step: see the docstring."""
    load(store, batches)
    workers, apply.WORKERS = apply.WORKERS, 1
    server, client, started = _server_cpu(neo4j_home), time.process_time(), time.perf_counter()
    try:
        with StepClock() as clock:
            report = apply.apply_retention(store, load_policy(), batch_size=PAGE)
    finally:
        apply.WORKERS = workers
    wall = time.perf_counter() - started
    server_after = _server_cpu(neo4j_home)
    return {"copies": report.objects, "seconds": wall, "copies_per_second": report.objects / wall,
            "client_cpu_seconds": time.process_time() - client,
            "server_cpu_seconds": None if server is None or server_after is None
            else server_after - server,
            "steps": dict(sorted(clock.seconds.items(), key=lambda item: -item[1]))}


def median_by(rounds: list[tuple[dict[str, float], dict[str, float]]], which: int,
              field: str) -> dict[str, Any]:
    ordered = sorted((r[which] for r in rounds), key=lambda row: row[field])
    return dict(ordered[len(ordered) // 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20000)
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI"))
    parser.add_argument("--rounds", type=int, default=1,
                        help="Neo4j: rounds of (apply, bare write); medians are reported")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--breakdown", action="store_true",
                        help="Neo4j: one more apply, a page at a time, timed step by step")
    parser.add_argument("--neo4j-home", type=Path,
                        help="with --breakdown: the server's home here, to read its CPU time")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    batches = estate(args.copies)
    results: dict[str, dict[str, Any]] = {}
    if not args.skip_local:
        with tempfile.TemporaryDirectory() as folder, LocalStore(Path(folder) / "b.db") as local:
            results["local"] = measure(local, batches)
    if args.neo4j:
        with Neo4jStore(args.neo4j) as neo4j:
            rounds = [(measure(neo4j, batches), bare_write(neo4j, batches))
                      for _ in range(args.rounds)]
            neo4j.clear()
        results["neo4j"] = median_by(rounds, 0, "copies_per_second")
        results["neo4j"]["rounds_copies_per_second"] = [a["copies_per_second"] for a, _ in rounds]
        results["neo4j_bare_write"] = median_by(rounds, 1, "copies_per_second")
        results["neo4j"]["share_of_bare_write"] = statistics.median(
            applied["copies_per_second"] / bare["copies_per_second"] for applied, bare in rounds)
        if args.breakdown:
            with Neo4jStore(args.neo4j) as neo4j:
                results["neo4j_breakdown"] = breakdown(neo4j, batches, args.neo4j_home)
                neo4j.clear()
    print(f"{args.copies} copies; {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'store':8} {'load s':>8} {'apply s':>8} {'copies/s':>10}")
    for name, row in results.items():
        if name == "neo4j_breakdown":
            cpu = row["server_cpu_seconds"]
            print(f"{name}: {row['seconds']:.1f} s a page at a time, "
                  f"{row['copies_per_second']:.0f} copies/s; "
                  f"client CPU {row['client_cpu_seconds']:.1f} s"
                  + ("" if cpu is None else f", server CPU {cpu:.1f} s"))
            for step, seconds in row["steps"].items():
                print(f"  {step:34} {seconds:6.1f} s")
            continue
        if name == "neo4j_bare_write":
            print(f"{name} {row['seconds']:.1f} s, {row['copies_per_second']:.0f} copies/s; "
                  f"apply at {results['neo4j']['share_of_bare_write']:.0%} of it (median of "
                  "the rounds' ratios)")
            continue
        print(f"{name:8} {row['load_seconds']:8.1f} {row['apply_seconds']:8.1f} "
              f"{row['copies_per_second']:10.0f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"copies": args.copies, "cores": os.cpu_count(),
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "results": results}, indent=2) + "\n")
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
