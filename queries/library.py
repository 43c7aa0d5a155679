"""The query library: each query is defined once (`Query`: a name, its Cypher file, its NetworkX
twin) and runs on either store through `run_query`, returning the same rows.

Cypher lives in `queries/<group>/<name>.cypher`, loaded by name, parameters only as `$params`.
The NetworkX twin takes the local store's graph view and the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, LiteralString

from lineage.stores.base import GraphStore
from lineage.stores.cypher import query as literal
from queries.graph import Graph

Row = dict[str, Any]


@cache
def cypher(name: str) -> LiteralString:
    """The text of `queries/<name>.cypher`, e.g. `retention/drift_unknown`."""
    group, _, leaf = name.rpartition("/")
    folder = resources.files("queries").joinpath(group) if group else resources.files("queries")
    return literal(folder.joinpath(f"{leaf}.cypher").read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    networkx: Callable[[Graph, Mapping[str, Any]], list[Row]]

    def cypher(self) -> LiteralString:
        return cypher(self.name)


def run_query(store: GraphStore, query: Query, params: Mapping[str, Any]) -> list[Row]:
    """Rows of a query on a store: each store runs it with its engine (Cypher on Neo4j,
    NetworkX on the local store and exported graphs)."""
    return store.run(query, params)


def run_queries(store: GraphStore, queries: Mapping[str, Query],
                params: Mapping[str, Any]) -> dict[str, list[Row]]:
    """The rows of several queries with the same parameters, by name. On Neo4j they run at once,
    each in its own read transaction, so that a report of several whole-estate scans takes about
    as long as its slowest on a server with cores to spare; in-process stores run them one after
    the other (the GIL would serialise them anyway). A failing query's error is raised."""
    if not store.concurrent_reads or len(queries) < 2:
        return {name: run_query(store, query, params) for name, query in queries.items()}
    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="query") as pool:
        running = {name: pool.submit(run_query, store, query, params)
                   for name, query in queries.items()}
        return {name: future.result() for name, future in running.items()}
