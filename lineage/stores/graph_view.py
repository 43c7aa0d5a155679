"""Reads over a NetworkX MultiDiGraph view, shared by the local store and by exported graphs
opened as read-only stores. Edge keys are edge types; node attributes are the stored properties
plus `label` (the node kind).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeAlias

import networkx as nx

from lineage.model import EdgeType, NodeKind, kind_of_valid
from lineage.stores.base import (
    Direction,
    QueryDefinition,
    Row,
    StoredEdge,
    StoredNode,
    WritePlan,
    check_depth,
    sorted_edges,
)
from lineage.stores.compact import set_edge, set_node

Graph: TypeAlias = nx.MultiDiGraph  # untyped library: Any to mypy

# A node with at least this many neighbours on one side gets a per-type index of that side the
# first time a walk steps through it (a system holds every copy stored in it; a trace wants its
# few FEEDS edges, not a scan of all its STORED_IN ones).
DENSE = 1000
_TYPED = "_lineage_typed_adjacency"


def adjacent(graph: Graph, key: str, types: frozenset[str] | set[str], outgoing: bool
             ) -> list[tuple[str, str, dict[str, Any]]]:
    """(other end, type, edge attributes) of `key`'s outgoing (or incoming) edges of `types`."""
    adjacency: dict[str, dict[str, Any]] = (graph._succ if outgoing else graph._pred).get(key, {})
    if len(adjacency) < DENSE:
        return [(other, kind, attrs) for other, kinds in adjacency.items()
                for kind, attrs in kinds.items() if kind in types]
    # Taken once: an index built while a writer changes the graph lands in the dict that the
    # writer's `forget_indexes` then drops, never in the next one.
    cache: dict[tuple[str, bool], dict[str, list[tuple[str, str, dict[str, Any]]]]] = \
        graph.graph.setdefault(_TYPED, {})
    by_type = cache.get((key, outgoing))
    if by_type is None:
        by_type = {}
        for other, kinds in adjacency.items():
            for kind, attrs in kinds.items():
                by_type.setdefault(kind, []).append((other, kind, attrs))
        cache[(key, outgoing)] = by_type
    return [edge for kind in types for edge in by_type.get(kind, ())]


def forget_indexes(graph: Graph) -> None:
    """Drop the per-type indexes `adjacent` made: call after adding edges to the graph."""
    graph.graph.pop(_TYPED, None)


def apply_plan(graph: Graph, plan: WritePlan) -> None:
    """Bring a graph view up to date with a batch a store has just committed."""
    for key, props in (*plan.new_nodes.items(), *plan.nodes.items()):
        set_node(graph, key, {**props, "label": kind_of_valid(key).value})
    for (src, edge_type, dst), props in (*plan.new_edges.items(), *plan.edges.items()):
        set_edge(graph, src, edge_type, dst, props)
    forget_indexes(graph)


class GraphViewReads:
    """The GraphStore reads, over `self.graph`. Each read runs inside `self.reading()`: a store
    whose view changes while other threads read it (the local store under the API) returns its
    lock there, so that no read walks a dict a write is changing."""

    @property
    @abstractmethod
    def graph(self) -> nx.MultiDiGraph: ...

    def reading(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def run(self, query: QueryDefinition, params: Mapping[str, Any]) -> list[Row]:
        with self.reading():
            return query.networkx(self.graph, params)

    # -- reads ------------------------------------------------------------------------------
    def get_node(self, key: str) -> StoredNode | None:
        with self.reading():
            graph = self.graph
            if key not in graph:
                return None
            return _stored_node(key, graph.nodes[key])

    def get_edge(self, src: str, edge_type: EdgeType | str, dst: str) -> StoredEdge | None:
        edge_type = EdgeType(edge_type)
        with self.reading():
            graph = self.graph
            if not graph.has_edge(src, dst, key=edge_type.value):
                return None
            return StoredEdge(src, edge_type, dst, dict(graph.edges[src, dst, edge_type.value]))

    def edges(
        self, key: str, direction: Direction = "out", types: Sequence[EdgeType] | None = None
    ) -> list[StoredEdge]:
        with self.reading():
            return self._edges(key, direction, types)

    def _edges(
        self, key: str, direction: Direction, types: Sequence[EdgeType] | None
    ) -> list[StoredEdge]:
        graph = self.graph
        if key not in graph:
            return []
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        if direction in ("out", "both"):
            found.extend(graph.out_edges(key, keys=True, data=True))
        if direction in ("in", "both"):
            found.extend(graph.in_edges(key, keys=True, data=True))
        wanted = {EdgeType(t).value for t in types} if types is not None else None
        unique = {(s, t, d): props for s, d, t, props in found if wanted is None or t in wanted}
        return sorted_edges([StoredEdge(s, EdgeType(t), d, dict(props))
                             for (s, t, d), props in unique.items()])

    def shortest_path(
        self, src: str, dst: str, *, direction: Direction = "out",
        types: Sequence[EdgeType] | None = None, max_depth: int = 16,
    ) -> list[str] | None:
        check_depth(max_depth)
        with self.reading():
            return self._shortest_path(src, dst, direction, types, max_depth)

    def _shortest_path(self, src: str, dst: str, direction: Direction,
                       types: Sequence[EdgeType] | None, max_depth: int) -> list[str] | None:
        graph = self.graph
        if src not in graph or dst not in graph:
            return None
        view: Any = graph
        if types is not None:
            wanted = {EdgeType(t).value for t in types}
            view = nx.subgraph_view(graph, filter_edge=lambda s, d, k: k in wanted)
        if direction == "in":
            view = view.reverse(copy=False)
        elif direction == "both":
            view = view.to_undirected(as_view=True)
        try:
            path: list[str] = nx.shortest_path(view, src, dst)
        except nx.NetworkXNoPath:
            return None
        return path if len(path) - 1 <= max_depth else None

    def iter_nodes(self, kind: NodeKind | None = None) -> Iterator[StoredNode]:
        with self.reading():  # a sorted snapshot of the keys; attributes are replaced, not changed
            graph = self.graph
            keys = sorted(graph.nodes)
        for key in keys:
            attrs = graph.nodes[key]
            if kind is None or attrs["label"] == kind.value:
                yield _stored_node(key, attrs)

    def keys_starting(self, kind: NodeKind, prefix: str, limit: int) -> list[str]:
        """A scan of the view's keys (in memory: ~0.1 s per million nodes)."""
        with self.reading():
            graph = self.graph
            found = [key for key in graph._node if key.startswith(prefix)
                     and graph._node[key].get("label") == kind.value]
        return sorted(found)[:limit]

    def iter_edges(self, edge_type: EdgeType | None = None) -> Iterator[StoredEdge]:
        with self.reading():
            found = sorted(self.graph.edges(keys=True, data=True),
                           key=lambda e: (e[2], e[0], e[1]))
        for src, dst, key, props in found:
            if edge_type is None or key == edge_type.value:
                yield StoredEdge(src, EdgeType(key), dst, dict(props))


def _stored_node(key: str, attrs: dict[str, Any]) -> StoredNode:
    properties = {name: value for name, value in attrs.items() if name != "label"}
    return StoredNode(key, NodeKind(attrs["label"]), properties)
