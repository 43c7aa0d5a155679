"""Stores of the lineage graph, chosen by one setting (`--store` / `LINEAGE_STORE`):
a file path opens the local store, a `bolt://` or `neo4j://` URI (with +s / +ssc) the Neo4j store,
an exported `.graphml` or node-link `.json` file a read-only store.
"""

from __future__ import annotations

from lineage.store_location import is_neo4j_uri
from lineage.stores.base import GraphStore, Stats, StoredEdge, StoredNode, UpsertResult
from lineage.stores.exported import ExportStore, is_export_path
from lineage.stores.local import LocalStore
from lineage.stores.neo4j import Neo4jStore

__all__ = [
    "ExportStore", "GraphStore", "LocalStore", "Neo4jStore", "Stats", "StoredEdge", "StoredNode",
    "UpsertResult", "is_neo4j_uri", "make_store",
]


def make_store(
    location: str, *, auth: tuple[str, str] | None = None, database: str = "neo4j"
) -> GraphStore:
    """The store at `location`, not yet opened: Neo4j for a URI, an exported graph (read-only)
    for a .graphml or .json file, else the local store."""
    if is_neo4j_uri(location):
        return Neo4jStore(location, auth=auth, database=database)
    if is_export_path(location):
        return ExportStore(location)
    return LocalStore(location)
