"""NetworkX building blocks shared by the offline implementations of the queries.

The graph is the local store's view: a MultiDiGraph whose edge keys are the edge types and whose
node attributes are the stored properties plus `label`. Each helper mirrors one Cypher idiom of
the `.cypher` files, so that both implementations agree row for row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import networkx as nx

# the graph view's per-type adjacency index, used by the walks here
from lineage.stores.graph_view import DENSE as DENSE
from lineage.stores.graph_view import adjacent as adjacent

Graph: TypeAlias = nx.MultiDiGraph  # untyped library: Any to mypy
# Edge types walked backwards from a hold's scope to the stored copies it covers.
SCOPE_TYPES = frozenset({"OF_PATIENT", "PART_OF", "COPY_OF", "STORED_IN"})


def nodes(graph: Graph, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, attributes) of every node with that label, by key."""
    for key in sorted(graph.nodes):
        attrs = graph.nodes[key]
        if attrs.get("label") == label:
            yield key, attrs


def out(graph: Graph, key: str, edge_type: str, label: str | None = None) -> list[str]:
    """Targets of `key`'s edges of a type (sorted). Reads the adjacency dicts directly: the
    edge views NetworkX builds per call cost more than the walk itself."""
    return _ends(graph, graph._succ.get(key, {}), edge_type, label)


def into(graph: Graph, key: str, edge_type: str, label: str | None = None) -> list[str]:
    """Sources of edges of a type that end at `key` (sorted)."""
    return _ends(graph, graph._pred.get(key, {}), edge_type, label)


def _ends(graph: Graph, adjacency: dict[str, dict[str, Any]], edge_type: str,
          label: str | None) -> list[str]:
    nodes = graph._node
    return sorted(other for other, kinds in adjacency.items() if edge_type in kinds
                  and (label is None or nodes[other].get("label") == label))


def live(attrs: dict[str, Any], as_of: str) -> bool:
    created, disposed = attrs.get("created_at"), attrs.get("disposed_at")
    return (created is None or created <= as_of) and (disposed is None or disposed > as_of)


def valid_at(attrs: dict[str, Any], as_of: str) -> bool:
    """An edge valid at `as_of` (`valid_from` / `valid_to`, either open)."""
    start, end = attrs.get("valid_from"), attrs.get("valid_to")
    return (start is None or start <= as_of) and (end is None or end > as_of)


def active_at(attrs: dict[str, Any], moment: str) -> bool:
    started, ended = attrs.get("started_at"), attrs.get("ended_at")
    return started is not None and started <= moment and (ended is None or ended > moment)


def minimum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def study_of(graph: Graph, obj: str) -> str | None:
    """The study of a copy: through its series, else a study it copies directly."""
    via_series = [study for series in out(graph, obj, "COPY_OF", "Series")
                  for study in out(graph, series, "PART_OF", "Study")]
    found = minimum(via_series) or minimum(out(graph, obj, "COPY_OF", "Study"))
    return str(found) if found is not None else None


def system_of(graph: Graph, obj: str) -> str | None:
    found = minimum(out(graph, obj, "STORED_IN", "System"))
    return str(found) if found is not None else None


def region_of(graph: Graph, obj: str) -> str | None:
    own = graph.nodes[obj].get("region_code")
    if own is not None:
        return str(own)
    found = minimum(graph.nodes[s].get("region_code")
                    for s in out(graph, obj, "STORED_IN", "System"))
    return str(found) if found is not None else None


def covered(graph: Graph, event: str) -> set[str]:
    """Stored copies in the scope of a compliance event: its APPLIES_TO targets, what a dataset
    target includes, then back along OF_PATIENT, PART_OF, COPY_OF, STORED_IN (up to 3 steps)."""
    starts = set(out(graph, event, "APPLIES_TO"))
    starts |= {x for s in starts for x in out(graph, s, "INCLUDES")}
    found: set[str] = set()
    frontier, seen = set(starts), set(starts)
    for _ in range(4):
        found |= {k for k in frontier if graph.nodes[k].get("label") == "ArchiveObject"}
        step = {src for key in frontier for src, _, kind in graph.in_edges(key, keys=True)
                if kind in SCOPE_TYPES} - seen
        seen |= step
        frontier = step
    return found


def holds_covering(graph: Graph) -> dict[str, list[str]]:
    """Copy key → keys of the legal holds whose scope covers it."""
    covering: dict[str, list[str]] = {}
    for event, attrs in nodes(graph, "ComplianceEvent"):
        if attrs.get("event_type") == "legal_hold":
            for obj in covered(graph, event):
                covering.setdefault(obj, []).append(event)
    return covering


def maximum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def current(graph: Graph, src: str, dst: str, edge_type: str) -> bool:
    """An edge that has not ended (no valid_to): a merged patient's old links have."""
    return graph.edges[src, dst, edge_type].get("valid_to") is None
