"""A canonical digest of a store's graph: equal digests, equal graphs (nodes, edges, every
property including provenance, and metadata conflicts), whatever the store or the order in
which it returns them. Properties named in `ignore` (by default the engine's own clock,
`recorded_at`) are left out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lineage.stores.base import GraphStore

RUN_CLOCK = frozenset({"recorded_at"})


@dataclass(frozen=True, slots=True)
class Digest:
    sha256: str
    nodes: int
    edges: int
    conflicts: int


def _line(parts: list[Any]) -> bytes:
    return json.dumps(parts, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _kept(props: Mapping[str, Any], ignore: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in props.items() if name not in ignore}


def canonical_digest(store: GraphStore, ignore: frozenset[str] = RUN_CLOCK) -> Digest:
    digest = hashlib.sha256()
    nodes = edges = 0
    for node in sorted(store.iter_nodes(), key=lambda n: n.key):
        digest.update(_line(["node", node.key, node.kind.value,
                             _kept(node.properties, ignore)]))
        nodes += 1
    for edge in sorted(store.iter_edges(), key=lambda e: (e.src, e.type.value, e.dst)):
        digest.update(_line(["edge", edge.src, edge.type.value, edge.dst,
                             _kept(edge.properties, ignore)]))
        edges += 1
    conflicts = store.conflicts()
    for conflict in conflicts:
        digest.update(_line(["conflict", conflict.id, _kept(conflict.as_dict(), ignore)]))
    return Digest(digest.hexdigest(), nodes, edges, len(conflicts))
