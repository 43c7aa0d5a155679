"""Which kind of store a `--store` / LINEAGE_STORE location names, without importing any store
(the CLI asks this before it needs a store, and must start fast)."""

from __future__ import annotations

NEO4J_SCHEMES = ("bolt://", "neo4j://", "bolt+s://", "neo4j+s://", "bolt+ssc://", "neo4j+ssc://")


def is_neo4j_uri(location: str) -> bool:
    return location.startswith(NEO4J_SCHEMES)
