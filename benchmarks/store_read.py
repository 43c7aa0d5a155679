"""Reading a whole Neo4j store, and exporting it: each measure in a process of its own, so that
its peak memory is its own. Prints one JSON line per measure: elements, seconds, peak RSS.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.store_read [--rounds 2]
        [--measures read scoped whole graphml] [--output FILE]

- `read`: every node (`iter_nodes`) and every edge (`iter_edges`), nothing kept;
- `scoped`: `lineage export --format node-link --scope <first study> --depth 3`;
- `whole`: `lineage export --format node-link` of the whole store;
- `graphml`: `lineage export --format graphml` of the whole store.

To compare with another tree side by side, run it with `PYTHONPATH` on a worktree of that tree
between this tree's rounds (the measures import whatever `lineage` is first on the path).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lineage
from lineage.export import export
from lineage.model import NodeKind
from lineage.stores import Neo4jStore

MEASURES = ("read", "scoped", "whole", "graphml")


def measure(name: str, uri: str) -> dict[str, Any]:
    started = time.perf_counter()
    counts: dict[str, Any]
    with Neo4jStore(uri) as store, tempfile.TemporaryDirectory() as folder:
        if name == "read":
            counts = {"nodes": sum(1 for _ in store.iter_nodes()),
                      "edges": sum(1 for _ in store.iter_edges())}
        else:
            scope = store.keys_starting(NodeKind.STUDY, "study:", 1)[0] if name == "scoped" \
                else None
            fmt = "graphml" if name == "graphml" else "node-link"
            manifest = export(store, fmt, Path(folder) / f"export.{fmt}", scope=scope)
            counts = {"scope": scope, "nodes": sum(manifest["nodes_by_kind"].values()),
                      "edges": sum(manifest["edges_by_type"].values()),
                      "bytes": manifest["bytes"], "sha256": manifest["sha256"]}
    return {"measure": name, "tree": str(Path(lineage.__file__).parents[1]), **counts,
            "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--measures", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    uri = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
    if args.measure:
        print(json.dumps(measure(args.measure, uri)))
        return
    results = []
    for _ in range(args.rounds):
        for name in args.measures:
            child = subprocess.run([sys.executable, "-m", "benchmarks.store_read", "--measure",
                                    name], check=True, capture_output=True, text=True)
            results.append(json.loads(child.stdout))
            print(child.stdout.strip(), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
