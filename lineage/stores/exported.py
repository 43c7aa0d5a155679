"""An exported graph (GraphML or node-link JSON, see `lineage.export`) opened as a read-only
store: the offline queries run on it exactly as on the local store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import networkx as nx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as safe_parse

from lineage.errors import StoreUnavailableError, UserError, one_line
from lineage.merge import Conflict
from lineage.model import Edge, Node
from lineage.stores.base import GraphStore, Stats, UpsertResult, sort_conflicts
from lineage.stores.compact import CompactGraphBuilder
from lineage.stores.graph_view import GraphViewReads

EXPORT_SUFFIXES = (".graphml", ".json")
# Field names of node-link JSON that cannot collide with property names (edges have `source`).
NODE_LINK_FIELDS = {"source": "_from", "target": "_to", "name": "_key", "key": "_type",
                    "edges": "edges"}


def is_export_path(location: str) -> bool:
    return location.lower().endswith(EXPORT_SUFFIXES)


class ExportStore(GraphViewReads, GraphStore):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)
        self._graph: nx.MultiDiGraph | None = None
        self._meta: dict[str, str] = {}
        self._conflicts: list[Conflict] = []

    def open(self) -> None:
        if self._graph is not None:
            return
        try:
            if self.path.suffix.lower() == ".graphml":
                graph = _read_graphml(self.path)
            else:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                raw = nx.node_link_graph(data, directed=True, multigraph=True,
                                         **NODE_LINK_FIELDS)
                del data
                graph = _compact(raw.nodes(data=True), raw.edges(keys=True, data=True))
                graph.graph.update(raw.graph)
        except DefusedXmlException:
            raise UserError(f"{self.location}: the GraphML declares a DTD or entities, which an "
                            "export never does (an XML bomb or an external entity): refused"
                            ) from None
        except RecursionError:
            raise UserError(f"{self.location}: nested too deeply to be an export") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError, nx.NetworkXError,
                ParseError) as exc:
            raise StoreUnavailableError(
                f"cannot open exported graph {self.location}: {one_line(exc, 200)}") from None
        self._meta = dict(graph.graph.get("meta") or {})
        self._conflicts = [Conflict(**c) for c in graph.graph.get("conflicts") or []]
        self._graph = graph

    def close(self) -> None:
        self._graph = None

    @property
    def graph(self) -> nx.MultiDiGraph:
        if self._graph is None:
            self.open()
        assert self._graph is not None
        return self._graph

    def _read_only(self) -> UserError:
        return UserError(f"{self.location} is an exported graph, opened read-only")

    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> UpsertResult:
        raise self._read_only()

    def set_meta(self, name: str, value: str) -> None:
        raise self._read_only()

    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]:
        raise self._read_only()

    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]:
        raise self._read_only()

    def forget_waiters(self, sops: Sequence[str]) -> None:
        raise self._read_only()

    def clear(self) -> None:
        raise self._read_only()

    def get_meta(self, name: str) -> str | None:
        self.graph  # noqa: B018 - loads the file
        return self._meta.get(name)

    def conflicts(self) -> list[Conflict]:
        self.graph  # noqa: B018
        return sort_conflicts(list(self._conflicts))

    def stats(self) -> Stats:
        graph = self.graph
        nodes: dict[str, int] = {}
        for _, attrs in graph.nodes(data=True):
            nodes[attrs["label"]] = nodes.get(attrs["label"], 0) + 1
        edges: dict[str, int] = {}
        for _, _, kind in graph.edges(keys=True):
            edges[kind] = edges.get(kind, 0) + 1
        unresolved = sum(1 for _, a in graph.nodes(data=True) if a.get("unresolved"))
        return Stats(dict(sorted(nodes.items())), dict(sorted(edges.items())),
                     len(self._conflicts), unresolved)


def _read_graphml(path: Path) -> nx.MultiDiGraph:
    # A hardened parse first: no DTD, no entities, no external references, ever.
    safe_parse(path, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    raw = nx.read_graphml(path, force_multigraph=True)
    lists = set(json.loads(raw.graph.get("list_properties", "[]")))
    graph = _compact(((key, _unflatten(attrs, "node", lists))
                      for key, attrs in raw.nodes(data=True)),
                     ((src, dst, kind, _unflatten(attrs, "edge", lists))
                      for src, dst, kind, attrs in raw.edges(keys=True, data=True)))
    graph.graph.update(meta=json.loads(raw.graph.get("meta", "{}")),
                       conflicts=json.loads(raw.graph.get("conflicts", "[]")),
                       source_store=raw.graph.get("source_store"))
    return graph


def _unflatten(attrs: dict[str, Any], domain: str, lists: set[str]) -> dict[str, Any]:
    return {name: json.loads(value) if f"{domain}:{name}" in lists else value
            for name, value in attrs.items()}


def _compact(nodes: Iterable[tuple[str, dict[str, Any]]],
             edges: Iterable[tuple[str, str, str, dict[str, Any]]]) -> nx.MultiDiGraph:
    """The view of an export, with what repeats held once (`lineage.stores.compact`)."""
    builder = CompactGraphBuilder()
    for key, attrs in nodes:
        properties = dict(attrs)
        label = properties.pop("label", None)
        if not isinstance(label, str):
            raise ValueError(f"node {str(key)[:80]!r} has no label (its kind)")
        builder.add_node(key, label, properties)
    for src, dst, kind, attrs in edges:
        builder.add_edge(src, kind, dst, attrs,
                         text=json.dumps(attrs, sort_keys=True, separators=(",", ":")))
    return builder.build()
