"""An exported graph (GraphML or node-link JSON, see `lineage.export`) opened as a read-only
store: the offline queries run on it exactly as on the local store. Both formats are read a
node or edge at a time into the compact view (`lineage.stores.graphml_reader`,
`lineage.stores.node_link_reader`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree.ElementTree import ParseError

import networkx as nx
from defusedxml import DefusedXmlException

from lineage.errors import StoreUnavailableError, UserError, one_line
from lineage.merge import Conflict
from lineage.model import Edge, Node
from lineage.stores import graphml_reader, node_link_reader
from lineage.stores.base import GraphStore, Stats, UpsertResult, sort_conflicts
from lineage.stores.graph_view import GraphViewReads

EXPORT_SUFFIXES = (".graphml", ".json")


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
                graph = graphml_reader.read(self.path)
            else:
                graph = node_link_reader.read(self.path)
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
