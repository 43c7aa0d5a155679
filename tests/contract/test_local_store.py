"""The store contract against the local store (SQLite file + NetworkX view)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage.model import Edge, EdgeType, Node, Provenance
from lineage.stores import GraphStore, LocalStore
from tests.contract.store_contract import PACS, STUDY, SYSTEM, StoreContract, small_estate


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "lineage.db") as opened:
        yield opened


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[], GraphStore]:
    return lambda: LocalStore(tmp_path / "lineage.db")


class TestLocalStore(StoreContract):
    pass


def test_unchanged_elements_are_not_rewritten(store: LocalStore) -> None:
    """Re-reporting the same sighting merges to the stored state: nothing is written."""
    nodes, edges = small_estate()
    store.upsert(nodes, edges)
    writes_before = store.db.total_changes
    result = store.upsert(nodes, edges)
    assert (result.nodes_unchanged, result.edges_unchanged) == (len(nodes), len(edges))
    assert store.db.total_changes == writes_before
    store.upsert([Node(STUDY, Provenance("dicom:PACS1", "2026-02-01"), {"study_date": "20240105"})])
    assert store.db.total_changes == writes_before + 1  # a later sighting moves last_seen


def _estate_of_equal_copies(copies: int) -> tuple[list[Node], list[Edge]]:
    """Copies of one series in one system, reported by one source: their edges are equal."""
    nodes, edges = small_estate()
    for number in range(copies):
        copy = f"object:PACS1:1.2.3.1.{number}"
        nodes.append(Node(copy, PACS, {"instance_count": number, "tiers": ["online", "tape"]}))
        edges.append(Edge(copy, EdgeType.COPY_OF, "series:1.2.3.1", PACS))
        edges.append(Edge(copy, EdgeType.STORED_IN, SYSTEM, PACS, {"valid_from": "2024-01-05"}))
    return nodes, edges


def _view(store: LocalStore) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], Any]]:
    graph = store.graph
    return ({key: dict(attrs) for key, attrs in graph.nodes(data=True)},
            {(src, kind, dst): dict(attrs)
             for src, dst, kind, attrs in graph.edges(keys=True, data=True)})


def test_a_reopened_view_holds_what_repeats_once_and_equals_the_written_one(
    store: LocalStore, reopen: Callable[[], GraphStore]
) -> None:
    store.upsert(*_estate_of_equal_copies(50))
    written = _view(store)  # the view kept current batch by batch
    with reopen() as reopened:
        assert isinstance(reopened, LocalStore)
        assert _view(reopened) == written
        graph = reopened.graph
        first, second = "object:PACS1:1.2.3.1.0", "object:PACS1:1.2.3.1.1"
        assert graph.edges[first, SYSTEM, "STORED_IN"] is graph.edges[second, SYSTEM, "STORED_IN"]
        assert graph._succ[first][SYSTEM] is graph._succ[second][SYSTEM]  # the type-to-data map
        assert graph.nodes[first]["tiers"] is graph.nodes[second]["tiers"]
        key_in_edge = next(key for key in graph._succ[first] if key == SYSTEM)
        assert key_in_edge is next(key for key in graph._node if key == SYSTEM)  # one string


def test_shared_edge_data_is_replaced_never_changed_in_place(
    store: LocalStore, reopen: Callable[[], GraphStore]
) -> None:
    store.upsert(*_estate_of_equal_copies(2))
    first, second = "object:PACS1:1.2.3.1.0", "object:PACS1:1.2.3.1.1"
    with reopen() as reopened:
        assert isinstance(reopened, LocalStore)
        with pytest.raises(TypeError, match="read-only"):
            reopened.graph.add_edge(first, SYSTEM, key="STORED_IN", valid_to="2025-01-01")
        reopened.upsert([], [Edge(first, EdgeType.STORED_IN, SYSTEM, PACS,
                                  {"valid_to": "2025-01-01"})])
        graph = reopened.graph
        assert graph.edges[first, SYSTEM, "STORED_IN"]["valid_to"].startswith("2025-01-01")
        assert "valid_to" not in graph.edges[second, SYSTEM, "STORED_IN"]
        assert reopened.get_edge(second, EdgeType.STORED_IN, SYSTEM) == \
            store.get_edge(second, EdgeType.STORED_IN, SYSTEM)
