"""The explorer's estate query (`GET /estate`): each system's live copies, bytes and sorted tiers
on both stores, and on Neo4j a working memory that does not grow with the copies (it sorted
every copy of the estate, which failed at 1 M studies with Neo4j's transaction memory limit)."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.model import Confidence, Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore, Neo4jStore
from queries.explore import ESTATE_SYSTEMS
from queries.library import run_query

PROV = Provenance("test:estate", "2024-01-01T00:00:00Z", Confidence.OBSERVED)
TIERS = ("nearline", "archive", "hot")


def _system_with_copies(store: GraphStore, code: str, copies: int, *, disposed: int = 0) -> None:
    """`copies` live copies in system `code`, tiers and sizes in turn, and `disposed` more that
    were disposed of before the report's date."""
    nodes = [Node(system_key(code), PROV, {"kind": "pacs"})]
    edges = []
    for number in range(copies + disposed):
        key = object_key(code, f"2.25.{number}")
        props: dict[str, Any] = {"storage_tier": TIERS[number % len(TIERS)], "bytes": number,
                                 "created_at": "2020-01-01"}
        if number >= copies:
            props["disposed_at"] = "2021-01-01"
        nodes.append(Node(key, PROV, props))
        edges.append(Edge(key, EdgeType.STORED_IN, system_key(code), PROV))
    store.upsert(nodes, edges)


def _estate(store: GraphStore) -> dict[str, dict[str, Any]]:
    rows = run_query(store, ESTATE_SYSTEMS, as_of_params("2024-01-01"))
    return {row["key"]: row for row in rows}


def test_each_system_sums_its_live_copies_with_sorted_tiers(any_store: GraphStore) -> None:
    _system_with_copies(any_store, "PACS-A", 5, disposed=2)
    _system_with_copies(any_store, "EMPTY", 0)
    estate = _estate(any_store)
    assert estate["system:PACS-A"]["copies"] == 5
    assert estate["system:PACS-A"]["bytes"] == sum(range(5))  # the disposed ones left out
    assert estate["system:PACS-A"]["tiers"] == ["archive", "hot", "nearline"]
    assert (estate["system:EMPTY"]["copies"], estate["system:EMPTY"]["bytes"],
            estate["system:EMPTY"]["tiers"]) == (0, 0, [])


def _working_memory(store: Neo4jStore) -> int:
    """Bytes of working memory Neo4j reports for the estate query (PROFILE's GlobalMemory)."""
    with store.driver.session(database=store.database) as session:
        result = session.run("PROFILE " + ESTATE_SYSTEMS.cypher(), as_of_params("2024-01-01"))
        list(result)
        plan = result.consume().profile
    assert plan is not None
    return int(plan["args"]["GlobalMemory"])


@pytest.mark.neo4j
def test_the_estate_query_does_not_hold_every_copy_in_memory(neo4j_store: Neo4jStore) -> None:
    neo4j_store.clear()
    _system_with_copies(neo4j_store, "PACS-A", 200)
    small = _working_memory(neo4j_store)
    _system_with_copies(neo4j_store, "PACS-A", 4000)  # twenty times the copies
    large = _working_memory(neo4j_store)
    assert _estate(neo4j_store)["system:PACS-A"]["copies"] == 4000
    assert large < 2 * small, (small, large)
