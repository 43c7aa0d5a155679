"""Retention recomputation rate (copies/s) on the local store and on Neo4j, same estate.

    python -m benchmarks.retention_apply [--copies 20000] [--neo4j bolt://...]

Builds an estate of patients, studies, series and copies (two copies per series, in regions of
four jurisdictions), loads it into each store, then times `apply_retention` with the default
pack (batched passes of 5,000). Writes benchmarks/results/retention_apply.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore, LocalStore, Neo4jStore

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


def measure(store: GraphStore, batches: list[tuple[list[Node], list[Edge]]]) -> dict[str, float]:
    store.clear()
    started = time.perf_counter()
    for nodes, edges in batches:
        store.upsert(nodes, edges)
    loaded = time.perf_counter() - started
    report = apply_retention(store, load_policy(), batch_size=5000)
    return {"load_seconds": loaded, "apply_seconds": report.seconds,
            "copies": report.objects, "copies_per_second": report.objects / report.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20000)
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI"))
    args = parser.parse_args()
    batches = estate(args.copies)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, LocalStore(Path(folder) / "b.db") as local:
        results["local"] = measure(local, batches)
    if args.neo4j:
        with Neo4jStore(args.neo4j) as neo4j:
            results["neo4j"] = measure(neo4j, batches)
            neo4j.clear()
    print(f"{args.copies} copies; {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'store':8} {'load s':>8} {'apply s':>8} {'copies/s':>10}")
    for name, row in results.items():
        print(f"{name:8} {row['load_seconds']:8.1f} {row['apply_seconds']:8.1f} "
              f"{row['copies_per_second']:10.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"copies": args.copies, "cores": os.cpu_count(),
                                   "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "results": results}, indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
