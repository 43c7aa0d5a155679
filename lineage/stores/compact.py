"""A compact NetworkX view: what repeats across millions of elements is held once.

A health system's graph repeats itself: the edges of one source carry the same provenance
(`source`, `sources`, `confidence`, the ingest's first/last seen), so a view of a million edges
holds a handful of distinct edge property maps; each edge row also brings its own copies of its
two end keys, and every pair of nodes its own one-entry map from edge type to properties.
`CompactGraphBuilder` builds the MultiDiGraph with one object per distinct edge property map,
per distinct pair map, per distinct list and per distinct text, and node keys shared with the
edges that name them: a third of the memory of a plain view at 100,000 studies (BENCHMARKS.md).

Shared edge data is read-only: `ReadOnlyDict` refuses in-place changes (NetworkX's own
`add_edge` on an existing edge updates the map in place and would change every edge sharing
it), so a view is only changed through `set_edge` and `set_node`, which replace maps instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from sys import intern
from typing import Any, NoReturn

import networkx as nx


class ReadOnlyDict(dict[str, Any]):
    """A dict that refuses in-place changes: edge data shared by many edges of a view."""

    __slots__ = ()

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("edge data of a graph view is shared and read-only: replace it with "
                        "lineage.stores.compact.set_edge")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self) -> tuple[type[ReadOnlyDict], tuple[dict[str, Any]]]:
        return ReadOnlyDict, (dict(self),)  # copy and pickle without the refused __setitem__


def shared_value(value: Any, lists: dict[tuple[Any, ...], list[Any]]) -> Any:
    """One object per distinct text (interned) and per distinct list of texts and numbers."""
    if type(value) is str:
        return intern(value)
    if type(value) is list:
        items = [intern(item) if type(item) is str else item for item in value]
        try:  # typed, so that [1] and [True] (equal in Python) stay two lists
            return lists.setdefault(tuple((type(item), item) for item in items), items)
        except TypeError:  # an unhashable item: kept as it is
            return items
    return value


class CompactGraphBuilder:
    """Builds a view where repeated values are shared (see the module's docstring)."""

    def __init__(self) -> None:
        self.graph = nx.MultiDiGraph()
        self._keys: dict[str, str] = {}
        self._lists: dict[tuple[Any, ...], list[Any]] = {}
        self._edge_data: dict[str, ReadOnlyDict] = {}
        self._pairs: dict[tuple[tuple[str, int], ...], ReadOnlyDict] = {}

    def key(self, key: str) -> str:
        return self._keys.setdefault(key, key)

    def properties(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {intern(name): shared_value(value, self._lists)
                for name, value in properties.items()}

    def add_node(self, key: str, label: str, properties: Mapping[str, Any]) -> None:
        key = self.key(key)
        _add_missing_nodes(self.graph, key)
        self.graph._node[key] = {"label": intern(label), **self.properties(properties)}

    def add_edge(self, src: str, edge_type: str, dst: str, properties: Mapping[str, Any],
                 text: str) -> None:
        """`text` identifies the properties' value (their canonical JSON): equal texts share one
        read-only map."""
        data = self._edge_data.get(text)
        if data is None:
            data = self._edge_data[text] = ReadOnlyDict(self.properties(properties))
        src, dst = self.key(src), self.key(dst)
        _add_missing_nodes(self.graph, src, dst)
        pair = _pair_with(self.graph, src, dst, intern(edge_type), data)
        signature = tuple(sorted((kind, id(value)) for kind, value in pair.items()))
        _link(self.graph, src, dst, self._pairs.setdefault(signature, pair))

    def add_exported_node(self, key: str, attributes: dict[str, Any]) -> None:
        """A node as an export holds it, its kind under "label" (taken out of `attributes`)."""
        label = attributes.pop("label", None)
        if not isinstance(label, str):
            raise ValueError(f"node {key[:80]!r} has no label (its kind)")
        self.add_node(key, label, attributes)

    def add_exported_edge(self, src: str, edge_type: str, dst: str,
                          properties: Mapping[str, Any]) -> None:
        self.add_edge(src, edge_type, dst, properties,
                      text=json.dumps(properties, sort_keys=True, separators=(",", ":")))

    def build_export(self) -> nx.MultiDiGraph:
        """The graph of an export, once every node an edge names has been given its kind."""
        unlabelled = next((key for key, attrs in self.graph.nodes(data=True)
                           if "label" not in attrs), None)
        if unlabelled is not None:
            raise ValueError(f"node {str(unlabelled)[:80]!r} has no label (its kind)")
        return self.build()

    def build(self) -> nx.MultiDiGraph:
        """The graph; the builder's lookup tables are dropped (the graph keeps what it uses)."""
        graph = self.graph
        self._keys, self._lists, self._edge_data, self._pairs = {}, {}, {}, {}
        _clear_cache(graph)
        return graph


def set_node(graph: nx.MultiDiGraph, key: str, attributes: dict[str, Any]) -> None:
    """Replace a node's attributes (the node is added when missing)."""
    _add_missing_nodes(graph, key)
    graph._node[key] = attributes
    _clear_cache(graph)


def set_edge(graph: nx.MultiDiGraph, src: str, edge_type: str, dst: str,
             properties: Mapping[str, Any]) -> None:
    """Add or replace one edge of a view with its own read-only data map."""
    _add_missing_nodes(graph, src, dst)
    _link(graph, src, dst, _pair_with(graph, src, dst, edge_type, ReadOnlyDict(properties)))
    _clear_cache(graph)


def _add_missing_nodes(graph: nx.MultiDiGraph, *keys: str) -> None:
    for key in keys:  # what `add_node` does, without clearing caches once per node
        if key not in graph._node:
            graph._succ[key] = {}
            graph._pred[key] = {}
            graph._node[key] = {}


def _pair_with(graph: nx.MultiDiGraph, src: str, dst: str, edge_type: str,
               data: ReadOnlyDict) -> ReadOnlyDict:
    current = graph._succ[src].get(dst)
    return ReadOnlyDict({edge_type: data} if current is None else {**current, edge_type: data})


def _link(graph: nx.MultiDiGraph, src: str, dst: str, pair: ReadOnlyDict) -> None:
    graph._succ[src][dst] = pair
    graph._pred[dst][src] = pair


def _clear_cache(graph: nx.MultiDiGraph) -> None:
    clear = getattr(nx, "_clear_cache", None)  # NetworkX ≥ 3.3 caches some algorithms' inputs
    if clear is not None:
        clear(graph)
