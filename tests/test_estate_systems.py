"""The explorer's estate query (`GET /estate`): each system's live copies, bytes and sorted tiers,
on both stores (its working memory on Neo4j: `test_query_memory`)."""

from __future__ import annotations

from typing import Any

from lineage.model import Confidence, Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore
from queries.explore import ESTATE_SYSTEMS
from queries.library import run_query

PROV = Provenance("test:estate", "2024-01-01T00:00:00Z", Confidence.OBSERVED)
TIERS = ("nearline", "archive", "hot")


def system_with_copies(store: GraphStore, code: str, copies: int, *, disposed: int = 0,
                       extra: dict[str, Any] | None = None) -> list[str]:
    """`copies` live copies in system `code`, tiers and sizes in turn, and `disposed` more that
    were disposed of before the report's date; `extra` properties on each. Their keys."""
    nodes = [Node(system_key(code), PROV, {"kind": "pacs"})]
    edges = []
    for number in range(copies + disposed):
        key = object_key(code, f"2.25.{number}")
        props: dict[str, Any] = {"storage_tier": TIERS[number % len(TIERS)], "bytes": number,
                                 "created_at": "2020-01-01", **(extra or {})}
        if number >= copies:
            props["disposed_at"] = "2021-01-01"
        nodes.append(Node(key, PROV, props))
        edges.append(Edge(key, EdgeType.STORED_IN, system_key(code), PROV))
    store.upsert(nodes, edges)
    return [node.key for node in nodes[1:]]


def estate_of(store: GraphStore) -> dict[str, dict[str, Any]]:
    rows = run_query(store, ESTATE_SYSTEMS, {**as_of_params("2024-01-01"), "systems": None})
    return {row["key"]: row for row in rows}


def test_each_system_sums_its_live_copies_with_sorted_tiers(any_store: GraphStore) -> None:
    system_with_copies(any_store, "PACS-A", 5, disposed=2)
    system_with_copies(any_store, "EMPTY", 0)
    estate = estate_of(any_store)
    assert estate["system:PACS-A"]["copies"] == 5
    assert estate["system:PACS-A"]["bytes"] == sum(range(5))  # the disposed ones left out
    assert estate["system:PACS-A"]["tiers"] == ["archive", "hot", "nearline"]
    assert (estate["system:EMPTY"]["copies"], estate["system:EMPTY"]["bytes"],
            estate["system:EMPTY"]["tiers"]) == (0, 0, [])
