"""The GraphStore contract, shared by the Neo4j store and the local store.

A store holds nodes and edges of the graph model with their provenance, and metadata conflicts.
Writes come as batches (`upsert`): a batch is written whole or not at all. Both stores run the same
batch algorithm (`apply_batch`): lock what the batch touches, creating the nodes that are new
in the same step, merge each report with `lineage.merge`, then write what changed; a store only
supplies the four primitives of `BatchAccess` inside one transaction. Reads return `StoredNode`
/ `StoredEdge` whose `properties` hold the reported properties and the provenance fields (source,
sources, first_seen, last_seen, confidence, property_sources, and unresolved on placeholders).

The contract suite in tests/contract runs unchanged against every implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, LiteralString, Protocol, Self

from lineage.merge import (
    Conflict,
    Merged,
    merge,
    merge_conflict,
    node_rules,
    placeholder,
)
from lineage.model import (
    EDGE_MUTABLE_PROPERTIES,
    PROVENANCE_FIELDS,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Properties,
)

Direction = Literal["out", "in", "both"]
EdgeId = tuple[str, str, str]
MAX_PATH_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FIT_ANYWHERE = frozenset({str, float, bool})  # value types every store holds whole


@dataclass(frozen=True, slots=True)
class StoredNode:
    key: str
    kind: NodeKind
    properties: Properties


@dataclass(frozen=True, slots=True)
class StoredEdge:
    src: str
    type: EdgeType
    dst: str
    properties: Properties


@dataclass(slots=True)
class UpsertResult:
    """What one or more batches did."""

    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_unchanged: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_unchanged: int = 0
    placeholders_created: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    # Nodes created or whose reported properties changed (provenance aside; placeholders are
    # not), and edges created or changed: what later steps (retention) must look at again.
    changed_nodes: set[str] = field(default_factory=set)
    changed_edges: set[EdgeId] = field(default_factory=set)

    def add(self, other: UpsertResult) -> None:
        for name in ("nodes_created", "nodes_updated", "nodes_unchanged", "edges_created",
                     "edges_updated", "edges_unchanged", "placeholders_created"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.conflicts.extend(other.conflicts)
        self.changed_nodes |= other.changed_nodes
        self.changed_edges |= other.changed_edges


@dataclass(frozen=True, slots=True)
class Stats:
    nodes: dict[str, int]
    edges: dict[str, int]
    conflicts: int
    unresolved: int


@dataclass(frozen=True, slots=True)
class IndexState:
    """An index of the store that reads cannot use yet (POPULATING) or at all (FAILED)."""

    name: str
    state: str
    percent: float

    def warning(self) -> str:
        if self.state == "POPULATING":
            return (f"index {self.name} is still being built ({self.percent:.0f} % done): "
                    "reports that read through it scan instead, and run slower, until it is "
                    "ONLINE (SHOW INDEXES; on a store larger than memory, `lineage warm` "
                    "speeds the build)")
        return (f"index {self.name} is {self.state}: reports that read through it scan "
                "instead; SHOW INDEXES gives its failure message; drop it and open the store "
                "again to rebuild it")


@dataclass(slots=True)
class WritePlan:
    """What a batch changed, merged. `new_nodes` were created by `lock_nodes` already; `write`
    writes the rest as it stands (full replacement)."""

    new_nodes: dict[str, Properties] = field(default_factory=dict)
    nodes: dict[str, Properties] = field(default_factory=dict)  # stored, and changed
    new_edges: dict[EdgeId, Properties] = field(default_factory=dict)  # not stored: create
    edges: dict[EdgeId, Properties] = field(default_factory=dict)  # stored, and changed
    conflicts: dict[str, Conflict] = field(default_factory=dict)


Row = dict[str, Any]


class QueryDefinition(Protocol):
    """A query of the library (`queries.library.Query`): its Cypher, and its NetworkX twin over
    a graph view. A store runs it with the engine it has (`GraphStore.run`)."""

    @property
    def name(self) -> str: ...

    def cypher(self) -> LiteralString: ...

    @property
    def networkx(self) -> Callable[[Any, Mapping[str, Any]], list[Row]]: ...


class BatchAccess(Protocol):
    """What a store provides, inside one transaction, for `apply_batch`."""

    def lock_nodes(self, if_new: Mapping[str, Properties]) -> dict[str, Properties]:
        """Lock every key of `if_new` until the end of the transaction; return the stored
        properties of those that exist, and create the others with their `if_new` properties
        (a new node's merged state does not depend on the store, so it is written at once)."""

    def read_edges(self, ids: Sequence[EdgeId]) -> dict[EdgeId, Properties]:
        """The stored properties of those edges that exist."""

    def read_conflicts(self, ids: Sequence[str]) -> dict[str, Conflict]:
        """The stored conflicts with those ids."""

    def write(self, plan: WritePlan) -> None:
        """Write the plan's `nodes`, `edges` (create or replace), `new_edges` (known not to
        exist) and `conflicts`."""


def apply_batch(access: BatchAccess, nodes: Sequence[Node], edges: Sequence[Edge]) -> UpsertResult:
    """Merge a batch into the store through `access`; the caller owns the transaction.

    Reports of one element merge in batch order. Each node's state is first merged as if it
    were new; `lock_nodes` creates the nodes that were, and returns the stored state of the
    others, which are merged again from it. Elements whose merged state equals the stored one
    are not written again."""
    result, plan = UpsertResult(), WritePlan()
    node_reports: dict[str, list[Node]] = {}
    for node in nodes:
        node_reports.setdefault(node.key, []).append(node)
    fresh = {key: _merge_reports(key, None, reports, *node_rules(reports[0].kind))
             for key, reports in node_reports.items()}
    placeholders: dict[str, Properties] = {}
    for edge in edges:
        for key in (edge.src, edge.dst):
            if key not in node_reports and key not in placeholders:
                placeholders[key] = placeholder(edge.provenance)
    stored = access.lock_nodes({**{k: props for k, (props, _) in fresh.items()}, **placeholders})
    node_outcomes: list[list[Merged]] = []
    for key, node_list in node_reports.items():
        before = stored.get(key)
        if before is None:
            (plan.new_nodes[key], outcomes) = fresh[key]
            result.changed_nodes.add(key)
        else:
            after, outcomes = _merge_reports(key, before, node_list,
                                             *node_rules(node_list[0].kind))
            if after != before:
                plan.nodes[key] = after
                if _reported_differ(before, after):
                    result.changed_nodes.add(key)
        node_outcomes.append(outcomes)
    for key, props in placeholders.items():
        if key not in stored:
            plan.new_nodes[key] = props
            result.placeholders_created += 1
    edge_reports: dict[EdgeId, list[Edge]] = {}
    for edge in edges:  # the type's text (`_value_`: the plain str, without the descriptor)
        edge_reports.setdefault((edge.src, edge.type._value_, edge.dst), []).append(edge)
    # An edge with an end that did not exist cannot exist: only the others are read.
    edge_state = access.read_edges([eid for eid in edge_reports
                                    if eid[0] in stored and eid[2] in stored])
    edge_outcomes: list[list[Merged]] = []
    for edge_id, edge_list in edge_reports.items():
        before = edge_state.get(edge_id)
        after, outcomes = _merge_reports(edge_list[0].id, before, edge_list,
                                         EDGE_MUTABLE_PROPERTIES)
        if before is None:
            plan.new_edges[edge_id] = after
            result.changed_edges.add(edge_id)
        elif after != before:
            plan.edges[edge_id] = after
            if _reported_differ(before, after):
                result.changed_edges.add(edge_id)
        edge_outcomes.append(outcomes)
    reported = _tally(result, node_outcomes, edge_outcomes)
    stored_conflicts = access.read_conflicts([c.id for c in reported])
    for conflict in reported:
        known = plan.conflicts.get(conflict.id) or stored_conflicts.get(conflict.id)
        plan.conflicts[conflict.id] = merge_conflict(known, conflict)
    result.conflicts = list(plan.conflicts.values())
    access.write(plan)
    return result


def _reported_differ(before: Properties, after: Properties) -> bool:
    """Whether a merge changed a reported property (a resolved placeholder counts)."""
    return any(before.get(name) != after.get(name) for name in set(before) | set(after)
               if name not in PROVENANCE_FIELDS or name == "unresolved")


def _merge_reports(element: str, stored: Properties | None, reports: Sequence[Node | Edge],
                   mutable: frozenset[str], derived: frozenset[str] = frozenset()
                   ) -> tuple[Properties, list[Merged]]:
    """Merge the reports of one element in order onto `stored` (None: not stored)."""
    outcomes: list[Merged] = []
    state = stored
    for report in reports:
        merged = merge(element, state, report.properties, report.provenance, mutable,
                       report.removed if isinstance(report, Node) else frozenset(), derived)
        outcomes.append(merged)
        state = merged.properties
    assert state is not None  # at least one report
    return state, outcomes


def _tally(result: UpsertResult, node_outcomes: list[list[Merged]],
           edge_outcomes: list[list[Merged]]) -> list[Conflict]:
    """Count the batch's outcomes into `result`; the conflicts its merges found, in order."""
    conflicts: list[Conflict] = []
    for what, per_element in (("nodes", node_outcomes), ("edges", edge_outcomes)):
        created = updated = unchanged = 0
        for outcomes in per_element:
            for merged in outcomes:
                if merged.created:
                    created += 1
                elif merged.changed:
                    updated += 1
                else:
                    unchanged += 1
                conflicts.extend(merged.conflicts)
        for outcome, count in (("created", created), ("updated", updated),
                               ("unchanged", unchanged)):
            name = f"{what}_{outcome}"
            setattr(result, name, getattr(result, name) + count)
    return conflicts


def check_storable(owner: str, properties: Properties) -> None:
    """Raise ValueError when a value is beyond what both stores can hold (64-bit integers)."""
    reason = _unstorable(properties)
    if reason:
        raise ValueError(f"{owner}: {reason}")


def _unstorable(properties: Properties) -> str | None:
    for name, value in properties.items():
        if type(value) in _FIT_ANYWHERE:  # most values: nothing to check
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool) and not (
                INT64_MIN <= item <= INT64_MAX
            ):
                return f"{name} = {item} does not fit in a 64-bit integer"
    return None


def locate_unstorable(nodes: Sequence[Node], edges: Sequence[Edge]) -> tuple[int, str, str] | None:
    """The first record of a batch that no store can hold: (index, description, reason)."""
    records: list[Node | Edge] = [*nodes, *edges]
    for index, record in enumerate(records):
        reason = _unstorable(record.properties)
        if reason:
            owner = record.key if isinstance(record, Node) else record.id
            where = f"{owner} from {record.location}" if record.location else owner
            return index, where, f"{owner}: {reason}"
    return None


class GraphStore(ABC):
    """A lineage graph store. Constructors do no I/O; `open()` connects and prepares."""

    location: str

    @abstractmethod
    def open(self) -> None:
        """Connect, create what is missing (schema, constraints); raise StoreUnavailableError."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> UpsertResult:
        """Write one batch atomically; raise BatchRejectedError and write nothing on failure."""

    @abstractmethod
    def get_node(self, key: str) -> StoredNode | None: ...

    # Whether several queries may run at once to advantage (a server with cores of its own).
    concurrent_reads: bool = False

    @abstractmethod
    def run(self, query: QueryDefinition, params: Mapping[str, Any]) -> list[Row]:
        """The rows of a library query, run by this store's engine (Cypher or NetworkX)."""

    @abstractmethod
    def get_edge(self, src: str, edge_type: EdgeType | str, dst: str) -> StoredEdge | None: ...

    @abstractmethod
    def edges(
        self, key: str, direction: Direction = "out", types: Sequence[EdgeType] | None = None
    ) -> list[StoredEdge]:
        """The edges at a node, sorted by (type, src, dst)."""

    @abstractmethod
    def shortest_path(
        self, src: str, dst: str, *, direction: Direction = "out",
        types: Sequence[EdgeType] | None = None, max_depth: int = 16,
    ) -> list[str] | None:
        """Node keys of a shortest path from src to dst of at most max_depth edges, or None."""

    @abstractmethod
    def iter_nodes(self, kind: NodeKind | None = None) -> Iterator[StoredNode]: ...

    @abstractmethod
    def keys_starting(self, kind: NodeKind, prefix: str, limit: int) -> list[str]:
        """Up to `limit` keys of `kind` that start with `prefix`, in key order: a seek in the
        key index, whose cost follows `limit`, not the size of the store."""

    @abstractmethod
    def iter_edges(self, edge_type: EdgeType | None = None) -> Iterator[StoredEdge]: ...

    @abstractmethod
    def conflicts(self) -> list[Conflict]:
        """Every recorded metadata conflict, sorted by element, property and first sighting."""

    @abstractmethod
    def stats(self) -> Stats: ...

    def unready_indexes(self) -> list[IndexState]:
        """The store's own indexes that are not ONLINE (stores without such indexes: none)."""
        return []

    def index_warnings(self) -> list[str]:
        """What a report says of `unready_indexes` (the answer is right, only slower)."""
        return [index.warning() for index in self.unready_indexes()]

    @abstractmethod
    def get_meta(self, name: str) -> str | None:
        """A setting of the store itself (e.g. the pseudonym key fingerprint), or None."""

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None: ...

    def add_to_meta(self, name: str, delta: int) -> int:
        """Add `delta` to a counting setting (0 when unset, never below 0) and return it. Stores
        that several processes write override this with one atomic step."""
        value = max(0, int(self.get_meta(name) or 0) + delta)
        self.set_meta(name, str(value))
        return value

    @abstractmethod
    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]:
        """Instance index: remember the series key holding each SOP instance UID, and return
        the waiters registered for those instances by `await_instances`. They are kept until
        `forget_waiters`, called once the edges they release are stored."""

    @abstractmethod
    def forget_waiters(self, sops: Sequence[str]) -> None:
        """Instance index: drop the waiters of those instances (their edges are stored)."""

    @abstractmethod
    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """Instance index: the series key of each SOP instance UID already recorded; for the
        others, remember the waiters (opaque strings) until the instance is recorded."""

    @abstractmethod
    def clear(self) -> None:
        """Delete everything (tests and fresh demos only)."""

    def get_nodes(self, keys: Sequence[str]) -> list[StoredNode]:
        """The stored nodes of `keys`, in that order; keys not stored are left out."""
        return [node for key in keys if (node := self.get_node(key)) is not None]

    def out_edges(self, keys: Sequence[str]) -> list[StoredEdge]:
        """The edges leaving any of `keys`, sorted by (type, src, dst)."""
        return sorted_edges([edge for key in keys for edge in self.edges(key, "out")])

    def neighbours(
        self, key: str, direction: Direction = "out", types: Sequence[EdgeType] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Keys of the nodes joined to `key`, sorted, each once; at most `limit` of them (which
        ones, when there are more, is the store's choice: a hub is not read whole)."""
        found = {e.dst if e.src == key else e.src for e in self.edges(key, direction, types)}
        return sorted(found)[:limit]

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sort_conflicts(conflicts: list[Conflict]) -> list[Conflict]:
    return sorted(conflicts, key=lambda c: (c.element, c.property, c.first_seen, c.id))


def sorted_edges(edges: list[StoredEdge]) -> list[StoredEdge]:
    return sorted(edges, key=lambda e: (e.type.value, e.src, e.dst))


def check_depth(max_depth: int) -> None:
    if not 0 <= max_depth <= MAX_PATH_DEPTH:
        raise ValueError(f"max_depth must be between 0 and {MAX_PATH_DEPTH}, got {max_depth}")


