"""The store contract against a real Neo4j server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import neo4j
import pytest

from lineage.model import Edge, EdgeType, Node, NodeKind, Provenance
from lineage.stores import GraphStore, Neo4jStore
from lineage.stores import neo4j as neo4j_module
from tests.conftest import Neo4jTarget
from tests.contract.store_contract import StoreContract

pytestmark = pytest.mark.neo4j


@pytest.fixture
def store(neo4j_store: Neo4jStore) -> Iterator[Neo4jStore]:
    neo4j_store.clear()
    yield neo4j_store


@pytest.fixture
def reopen(neo4j_target: Neo4jTarget) -> Callable[[], GraphStore]:
    uri, auth = neo4j_target
    return lambda: Neo4jStore(uri, auth=auth)


class TestNeo4jStore(StoreContract):
    pass


def test_a_whole_store_is_read_a_page_at_a_time_in_key_order(
        store: Neo4jStore, neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neo4j_module, "READ_PAGE", 3)
    at = Provenance("dicom:PACS1", "2026-01-01T00:00:00Z")
    studies = [f"study:1.2.{n}" for n in range(7)]  # not a multiple of the page
    series = [f"series:1.2.{n}.1" for n in range(6)]  # a multiple: the last page is empty
    copies = [f"object:PACS1:1.2.{n}.1" for n in range(6)]
    readers = ["job:ai/train", "run:r-1", "run:r-2"]  # READ starts at two kinds
    nodes = [Node(key, at, {"n": i, "tags": ["a", "b"]}) for i, key in enumerate(
        studies + series + copies + readers + ["system:PACS1"])]
    edges = [Edge(s, EdgeType.PART_OF, f"study:1.2.{i}", at, {"i": i})
             for i, s in enumerate(series)]
    edges += [Edge(c, EdgeType.STORED_IN, "system:PACS1", at) for c in copies]
    edges += [Edge(reader, EdgeType.READ, copy, at)  # a run reading more than a page of copies
              for reader in readers for copy in copies[:4]]
    store.upsert(nodes, edges)
    uri, auth = neo4j_target
    with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:  # past the model's allow-list,
        driver.execute_query(  # as an edge written before it changed would be
            "MATCH (a:Study {key: $a}), (b:Study {key: $b}) "
            "CREATE (a)-[:PART_OF {source: 'legacy'}]->(b)", a=studies[6], b=studies[5])
        every_node = {r["props"]["key"]: r["props"] for r in driver.execute_query(
            "MATCH (n) WHERE n.key CONTAINS ':' AND NOT n:LineageMeta "
            "RETURN properties(n) AS props").records}
        every_edge = {(r["type"], r["src"], r["dst"]): r["props"] for r in driver.execute_query(
            "MATCH (s)-[r]->(t) RETURN type(r) AS type, s.key AS src, t.key AS dst, "
            "properties(r) AS props").records}

    read = list(store.iter_nodes())
    assert [n.key for n in read] == sorted(every_node)
    assert all({"key": n.key, **n.properties} == every_node[n.key] for n in read)
    assert [n.key for n in store.iter_nodes(NodeKind.SERIES)] == series
    read_edges = list(store.iter_edges())
    assert len(read_edges) == len(every_edge)
    assert {(e.type.value, e.src, e.dst): e.properties for e in read_edges} == every_edge
    types = list(EdgeType)
    paged = [(types.index(e.type), e.src, e.dst) for e in read_edges
             if e.properties.get("source") != "legacy"]
    assert paged == sorted(paged)  # by type, then (src, dst) across the kinds READ starts at
    part_of = [(e.src, e.dst) for e in store.iter_edges(EdgeType.PART_OF)]
    assert part_of[-1] == (studies[6], studies[5]) and len(part_of) == 7
    # the nodes, and the edges out of them, a page of keys per query, every kind at once
    backwards = sorted(every_node, reverse=True)
    assert [(n.key, {"key": n.key, **n.properties}) for n in store.get_nodes(backwards)] == [
        (key, every_node[key]) for key in backwards]
    out = store.out_edges([*sorted(every_node, reverse=True), "study:absent"])
    assert [(e.type.value, e.src, e.dst) for e in out] == sorted(every_edge)
    assert {(e.type.value, e.src, e.dst): e.properties for e in out} == every_edge
    assert store.out_edges(copies[:4] + readers[:1]) == [
        e for e in out if e.src in copies[:4] + readers[:1]]
    holding = store.neighbours("system:PACS1", "in", [EdgeType.STORED_IN], limit=2)
    assert len(holding) == 2 and set(holding) <= set(copies)
