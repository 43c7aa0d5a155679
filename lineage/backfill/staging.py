"""The staging store of a backfill: the whole graph in memory, written by the same batch
algorithm as every store (`lineage.stores.base.apply_batch`, so `lineage.merge`'s rules), then
written out as the files `neo4j-admin database import full` reads.

It is a complete `GraphStore`: connectors that read while they ingest (a sweep's live copies, an
ADT merge's current links, the instance index, the pseudonym key binding) read it as they would
read Neo4j. The NetworkX view those reads need is built on the first read only, so a source that
never reads costs the dicts alone.

What repeats is held once, as in the local store's compact view (`lineage.stores.compact`):
one object per key however many edges name it, per text, per list, and per distinct edge
property map (the edges of one source share their provenance); shared maps are read-only, and
every write replaces maps, never changes them in place.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from sys import intern
from typing import Any

import networkx as nx

from lineage.errors import BatchRejectedError, UserError
from lineage.memory import read_meminfo, reserve, size_text
from lineage.merge import Conflict
from lineage.model import Edge, Node, Properties, kind_of_valid
from lineage.stores.base import (
    EdgeId,
    GraphStore,
    Stats,
    UpsertResult,
    WritePlan,
    apply_batch,
    locate_unstorable,
    sort_conflicts,
)
from lineage.stores.compact import ReadOnlyDict, shared_value
from lineage.stores.graph_view import GraphViewReads, apply_plan


class Instance:
    """One entry of the instance index, as the Neo4j store keeps it (`LineageInstance`)."""

    __slots__ = ("series", "waiters")

    def __init__(self) -> None:
        self.series: str | None = None
        self.waiters: list[str] | None = None


class _MemoryBatch:
    """BatchAccess over the staging dicts. Nothing is changed before `write`, so a batch that
    fails half-way leaves the store as it was."""

    def __init__(self, store: StagingStore):
        self.store = store
        self.plan: WritePlan | None = None

    def lock_nodes(self, if_new: Mapping[str, Properties]) -> dict[str, Properties]:
        nodes = self.store.nodes
        return {key: nodes[key] for key in if_new if key in nodes}

    def read_edges(self, ids: Sequence[EdgeId]) -> dict[EdgeId, Properties]:
        edges = self.store.edges_by_id
        return {edge_id: edges[edge_id] for edge_id in ids if edge_id in edges}

    def read_conflicts(self, ids: Sequence[str]) -> dict[str, Conflict]:
        conflicts = self.store.conflict_by_id
        return {cid: conflicts[cid] for cid in ids if cid in conflicts}

    def write(self, plan: WritePlan) -> None:
        self.plan = plan


WATCH_SECONDS = 0.5  # the memory left is read at most this often while staging


def staging_floor(wanted: int | None,
                  meminfo: Callable[[], dict[str, int]] = read_meminfo) -> int:
    """The memory floor staging keeps to: `wanted` (0: none), else what the engine leaves to
    everything else (`lineage.memory.reserve`); none where the memory left cannot be read
    (not Linux) and none was asked for."""
    try:
        memory = meminfo()
    except OSError:
        if wanted:
            raise UserError("--memory-floor: the memory left on this machine cannot be read "
                            "(/proc/meminfo); give --memory-floor 0 to stage unwatched") from None
        return 0
    return reserve(memory) if wanted is None else wanted


class StagingStore(GraphViewReads, GraphStore):
    """`StagingStore()`: an empty graph in this process's memory. With a `memory_floor`
    (bytes), staging stops with a UserError, instead of the machine running out, as soon as
    the memory left on the machine (`MemAvailable`) is below it."""

    location = "backfill staging (memory)"

    def __init__(self, memory_floor: int = 0,
                 meminfo: Callable[[], dict[str, int]] = read_meminfo) -> None:
        self.memory_floor = memory_floor
        self._meminfo = meminfo
        self._watched = float("-inf")
        self.nodes: dict[str, Properties] = {}
        self.edges_by_id: dict[EdgeId, Properties] = {}
        self.conflict_by_id: dict[str, Conflict] = {}
        self.meta: dict[str, str] = {}
        self.instances: dict[str, Instance] = {}
        self._graph: nx.MultiDiGraph | None = None
        self._keys: dict[str, str] = {}
        self._lists: dict[tuple[Any, ...], list[Any]] = {}
        self._edge_maps: dict[str, ReadOnlyDict] = {}

    def open(self) -> None:
        return None

    def close(self) -> None:
        self._graph = None
        gc.unfreeze()  # see upsert

    @property
    def graph(self) -> nx.MultiDiGraph:
        if self._graph is None:
            graph = nx.MultiDiGraph()
            for key, props in self.nodes.items():
                graph.add_node(key, label=kind_of_valid(key).value, **props)
            for (src, edge_type, dst), props in self.edges_by_id.items():
                graph.add_edge(src, dst, key=edge_type, **props)
            self._graph = graph
        return self._graph

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> UpsertResult:
        culprit = locate_unstorable(nodes, edges)  # what Neo4j would refuse, refused here
        if culprit:
            raise BatchRejectedError(culprit[2], culprit[0], culprit[1])
        batch = _MemoryBatch(self)
        result = apply_batch(batch, nodes, edges)
        plan = batch.plan
        assert plan is not None  # apply_batch always writes its plan
        for written in (plan.new_nodes, plan.nodes):
            for key, props in written.items():
                self.nodes[self._key(key)] = self._node_properties(props)
        for written_edges in (plan.new_edges, plan.edges):
            for (src, edge_type, dst), props in written_edges.items():
                edge = (self._key(src), intern(edge_type), self._key(dst))
                self.edges_by_id[edge] = self._edge_properties(props)
        self.conflict_by_id.update(plan.conflicts)
        if self._graph is not None:
            apply_plan(self._graph, plan)
        gc.freeze()  # what is staged lives to the end: the collector need never scan it again
        if self.memory_floor:
            self._watch_memory()
        return result

    def _watch_memory(self) -> None:
        now = time.monotonic()
        if now - self._watched < WATCH_SECONDS:
            return
        self._watched = now
        try:
            left = self._meminfo().get("MemAvailable")
        except OSError:  # no longer readable: staging goes on unwatched, as where it never was
            self.memory_floor = 0
            return
        if left is not None and left < self.memory_floor:
            raise UserError(
                f"backfill stopped staging before this machine runs out of memory: "
                f"{size_text(left)} left, below the floor of {size_text(self.memory_floor)} "
                f"(--memory-floor), with {len(self.nodes):,} nodes and "
                f"{len(self.edges_by_id):,} edges staged; nothing was written to the database. "
                "Stage fewer sources at once (backfill the first, then `lineage ingest` the "
                "rest), free memory here, or use a machine with more: staging holds about "
                "300-370 bytes per node or edge")

    def _key(self, key: str) -> str:
        return self._keys.setdefault(key, key)

    def _node_properties(self, props: Properties) -> Properties:
        lists, shared = self._lists, {}
        for name, value in props.items():
            kind = type(value)
            if kind is str:
                value = intern(value)  # type: ignore[arg-type]
            elif kind is list:
                value = shared_value(value, lists)
            shared[name] = value
        return shared

    def _edge_properties(self, props: Properties) -> Properties:
        """One read-only map per distinct edge property map. Maps are told apart by their
        `repr`, which tells values of different types apart too (1, 1.0 and True; 'a' and
        ['a']), as the stores do."""
        fingerprint = repr(props)
        found = self._edge_maps.get(fingerprint)
        if found is None:
            found = self._edge_maps[fingerprint] = ReadOnlyDict(self._node_properties(props))
        return found

    def get_meta(self, name: str) -> str | None:
        return self.meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        self.meta[name] = value

    # The instance index behaves as the Neo4j store's queries do (RECORD_INSTANCES,
    # AWAIT_INSTANCES, ...), waiters in the same order, so that the imported index equals it.
    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]:
        released: dict[str, list[str]] = {}
        for sop, series in members.items():
            entry = self.instances.setdefault(sop, Instance())
            if entry.waiters is not None:
                released[sop] = list(entry.waiters)
            entry.series = series
        return released

    def forget_waiters(self, sops: Sequence[str]) -> None:
        for sop in sops:
            if sop in self.instances:
                self.instances[sop].waiters = None

    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]:
        known = {sop: entry.series for sop in waiters
                 if (entry := self.instances.get(sop)) is not None and entry.series is not None}
        for sop, new in waiters.items():
            if sop in known:
                continue
            entry = self.instances.setdefault(sop, Instance())
            current = entry.waiters or []
            entry.waiters = current + [w for w in sorted(set(new)) if w not in current]
        return known

    def clear(self) -> None:
        self.__init__(self.memory_floor, self._meminfo)  # type: ignore[misc]
        gc.unfreeze()  # see upsert

    # -- reads beside the graph view --------------------------------------------------------
    def conflicts(self) -> list[Conflict]:
        return sort_conflicts(list(self.conflict_by_id.values()))

    def stats(self) -> Stats:
        nodes: dict[str, int] = {}
        for key in self.nodes:
            kind = kind_of_valid(key).value
            nodes[kind] = nodes.get(kind, 0) + 1
        edges: dict[str, int] = {}
        for _, edge_type, _ in self.edges_by_id:
            edges[edge_type] = edges.get(edge_type, 0) + 1
        unresolved = sum(1 for props in self.nodes.values() if props.get("unresolved"))
        return Stats(dict(sorted(nodes.items())), dict(sorted(edges.items())),
                     len(self.conflict_by_id), unresolved)
