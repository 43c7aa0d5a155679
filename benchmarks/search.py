"""The web explorer's search (`GET /search`, query `explore/find_nodes`) on a loaded Neo4j store:
p50 and max over --runs runs of each text after one warm-up, with the number of keys found and
a digest of them (so that two versions run side by side can be seen to give the same answer).
The texts by default: each system's code (on the scale estates a code is in the key of every
copy the system holds: hundreds of thousands of matches to rank), the first study's UID (one
exact match among the keys that contain it) and a text found nowhere.

    NEO4J_URI=bolt://127.0.0.1:7687 python -m benchmarks.search --runs 3 [--texts T ...] \
        [--output FILE]
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

from lineage.stores import Neo4jStore
from queries.explore import FIND_NODES
from queries.library import run_query

LIMIT = 20  # the API's default page


def default_texts(store: Neo4jStore) -> list[str]:
    systems = [row["key"] for row in store.read_rows(
        "MATCH (s:System) RETURN s.key AS key ORDER BY key", {})]
    studies = store.read_rows(
        "MATCH (s:Study) WHERE s.key IS NOT NULL RETURN s.key AS key ORDER BY s.key LIMIT 1", {})
    return ([key.partition(":")[2].lower() for key in systems]
            + [row["key"].partition(":")[2] for row in studies] + ["no-such-text-anywhere"])


def timed(store: Neo4jStore, text: str, runs: int) -> dict[str, Any]:
    params = {"text": text, "limit": LIMIT}
    run_query(store, FIND_NODES, params)
    times, keys = [], []
    for _ in range(runs):
        started = time.perf_counter()
        keys = [row["key"] for row in run_query(store, FIND_NODES, params)]
        times.append(time.perf_counter() - started)
    return {"p50_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
            "found": len(keys), "first": keys[0] if keys else None,
            "keys_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", nargs="+", help="what to search for (lower case)")
    parser.add_argument("--output", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    with Neo4jStore(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")) as store:
        texts = args.texts or default_texts(store)
        found = {text: timed(store, text, args.runs) for text in texts}
    print(json.dumps(found))
    if args.output:
        args.output.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
