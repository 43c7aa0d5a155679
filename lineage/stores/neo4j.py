"""The Neo4j store: official driver over Bolt, one transaction function per batch.

- `open()` checks connectivity (a clear error naming the URI otherwise) and creates a uniqueness
  constraint on `key` for every label and the range indexes the reports seek by
  (`cypher.INDEXED`, `cypher.COMPOSITE`), idempotently.
- Writes: `apply_batch` inside `session.execute_write`, which retries transient errors; nodes and
  edges are grouped by label / (label, type, label) and sent as `UNWIND $rows` queries from
  `lineage.stores.cypher`.
- Reads run in read transactions (`execute_read`), so a cluster routes them to readers.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, LiteralString, TypeVar

import neo4j
from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, ClientError, ConfigurationError, ServiceUnavailable

from lineage.errors import BatchRejectedError, StoreUnavailableError, UserError
from lineage.merge import Conflict
from lineage.model import (
    EDGE_ENDPOINTS,
    KEY_PREFIX,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Properties,
    kind_of,
    kind_of_valid,
)
from lineage.stores import cypher
from lineage.stores.base import (
    Direction,
    EdgeId,
    GraphStore,
    IndexState,
    QueryDefinition,
    Row,
    Stats,
    StoredEdge,
    StoredNode,
    UpsertResult,
    WritePlan,
    apply_batch,
    check_depth,
    locate_unstorable,
    sort_conflicts,
    sorted_edges,
)
from lineage.stores.cypher_guard import refusal

DEFAULT_BYTE_CAP = 10 * 1024 * 1024
Written = TypeVar("Written")
log = logging.getLogger("lineage.store")  # JSON bytes of an ad-hoc query's rows


class _Neo4jBatch:
    """BatchAccess over one managed write transaction."""

    def __init__(self, tx: ManagedTransaction):
        self.tx = tx

    def lock_nodes(self, if_new: Mapping[str, Properties]) -> dict[str, Properties]:
        groups = _group(list(if_new), kind_of_valid)
        if not groups:
            return {}
        params = {f"rows{part}": [{"key": key, "props": {**if_new[key], "key": key}}
                                  for key in keys] for part, keys in enumerate(groups.values())}
        return {record["key"]: _without_key(record["props"])
                for record in self.tx.run(cypher.lock_nodes_of(tuple(groups)), params)}

    def read_edges(self, ids: Sequence[EdgeId]) -> dict[EdgeId, Properties]:
        groups = _group_edges(ids)
        if not groups:
            return {}
        types = [edge_type.value for _, edge_type, _ in groups]
        params = {f"rows{part}": [{"src": src, "dst": dst} for src, _, dst in group]
                  for part, group in enumerate(groups.values())}
        return {(record["src"], types[record["part"]], record["dst"]): dict(record["props"])
                for record in self.tx.run(cypher.read_edges_of(tuple(groups)), params)}

    def read_conflicts(self, ids: Sequence[str]) -> dict[str, Conflict]:
        if not ids:
            return {}
        found = [_conflict(r["props"]) for r in self.tx.run(cypher.READ_CONFLICTS, ids=list(ids))]
        return {c.id: c for c in found}

    def write(self, plan: WritePlan) -> None:
        """The whole plan in one statement (one round trip, however many kinds and types)."""
        kinds = _group(list(plan.nodes), kind_of_valid)
        params: dict[str, Any] = {
            f"nodes{part}": [{"key": key, "props": {**plan.nodes[key], "key": key}}
                             for key in keys] for part, keys in enumerate(kinds.values())}
        edge_groups = [(group, new, edges, ids)
                       for new, edges in ((True, plan.new_edges), (False, plan.edges))
                       for group, ids in _group_edges(list(edges)).items()]
        for part, (_, _, edges, ids) in enumerate(edge_groups):
            params[f"edges{part}"] = [{"src": e[0], "dst": e[2], "props": edges[e]} for e in ids]
        if plan.conflicts:
            params["conflicts"] = [{"key": c.id, "props": conflict_properties(c)}
                                   for c in plan.conflicts.values()]
        if not params:
            return
        statement = cypher.write_plan(tuple(kinds), tuple((g, new) for g, new, _, _ in edge_groups),
                                      bool(plan.conflicts))
        self.tx.run(statement, params).consume()


def _group(keys: Sequence[str], kind: Any) -> dict[NodeKind, list[str]]:
    groups: dict[NodeKind, list[str]] = defaultdict(list)
    for key in keys:
        groups[kind(key)].append(key)
    return groups


def _group_edges(ids: Sequence[EdgeId]) -> dict[tuple[NodeKind, EdgeType, NodeKind], list[EdgeId]]:
    groups: dict[tuple[NodeKind, EdgeType, NodeKind], list[EdgeId]] = defaultdict(list)
    for edge_id in ids:
        groups[(kind_of_valid(edge_id[0]), EdgeType(edge_id[1]),
                kind_of_valid(edge_id[2]))].append(edge_id)
    return groups


READ_PAGE = 5_000  # nodes, or source nodes of edges, per record when a whole store is read
# Kinds in the order of their keys' prefixes (a key is "prefix:..."): nodes read kind by kind, in
# key order within each, come out in key order overall.
KINDS_IN_KEY_ORDER = sorted(NodeKind, key=lambda kind: KEY_PREFIX[kind] + ":")


def source_kinds(edge_type: EdgeType) -> tuple[NodeKind, ...]:
    """The kinds an edge of this type may start at, in key order."""
    kinds = {source for source, _ in EDGE_ENDPOINTS[edge_type]}
    return tuple(kind for kind in KINDS_IN_KEY_ORDER if kind in kinds)


def _without_key(props: dict[str, Any]) -> Properties:
    return {name: value for name, value in props.items() if name != "key"}


def conflict_properties(conflict: Conflict) -> dict[str, Any]:
    """A conflict as its node keeps it: `key` = its id, the values JSON-encoded (they may be
    lists or scalars of any type), no null properties."""
    props: dict[str, Any] = conflict.as_dict()
    props["current_value"] = json.dumps(conflict.current_value)
    props["reported_value"] = json.dumps(conflict.reported_value)
    props["key"] = conflict.id
    return {name: value for name, value in props.items() if value is not None}


def _conflict(props: dict[str, Any]) -> Conflict:
    fields = _without_key(props)
    fields["current_value"] = json.loads(str(fields["current_value"]))
    fields["reported_value"] = json.loads(str(fields["reported_value"]))
    return Conflict(**fields)  # type: ignore[arg-type]


class Neo4jStore(GraphStore):
    """`Neo4jStore("bolt://127.0.0.1:7687", auth=None)`; the driver is made at `open()`."""

    def __init__(self, uri: str, auth: tuple[str, str] | None = None, database: str = "neo4j"):
        self.uri = uri
        self.location = uri
        self.auth = auth
        self.database = database
        self._driver: Driver | None = None

    # -- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._driver is not None:
            return
        try:
            # Notifications (e.g. "relationship type does not exist yet" on a fresh database)
            # are about our generated queries, not the user's data: keep them out of the output.
            driver = GraphDatabase.driver(self.uri, auth=self.auth,
                                          notifications_min_severity="OFF")
            driver.verify_connectivity()
        except (ServiceUnavailable, OSError, ConfigurationError, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot reach Neo4j at {self.uri}: {_first_line(exc)} "
                "(is the server running? tools/neo4j/neo4j-local start)"
            ) from None
        except AuthError as exc:
            raise StoreUnavailableError(
                f"Neo4j at {self.uri} refused the credentials: {_first_line(exc)} "
                "(set NEO4J_USER / NEO4J_PASSWORD)"
            ) from None
        self._driver = driver
        with self._session() as session:
            created = 0
            for statement in cypher.constraints():
                counters = session.run(statement).consume().counters
                created += counters.indexes_added + counters.constraints_added
            if not created:
                return  # an index still being built is the reports' warning, not a wait here
            try:
                session.run(cypher.query("CALL db.awaitIndexes(300)")).consume()
            except ClientError as exc:
                # A large store that gets new indexes (an upgrade) populates them for minutes:
                # reads work meanwhile, by scans; the uniqueness constraints hold already.
                log.warning("Neo4j at %s has indexes not online after 300 s (still being "
                            "built, or failed; reports name them): %s", self.uri,
                            _first_line(exc))

    def unready_indexes(self) -> list[IndexState]:
        rows = self._read(cypher.query(
            "SHOW INDEXES YIELD name, state, populationPercent WHERE state <> 'ONLINE' "
            "RETURN name, state, populationPercent ORDER BY name"))
        return [IndexState(row["name"], row["state"], float(row["populationPercent"] or 0))
                for row in rows if row["name"] in cypher.index_names()]

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            self.open()
        assert self._driver is not None
        return self._driver

    def _session(self, access: str = neo4j.WRITE_ACCESS) -> neo4j.Session:
        return self.driver.session(database=self.database, default_access_mode=access)

    concurrent_reads = True

    def run(self, query: QueryDefinition, params: Mapping[str, Any]) -> list[Row]:
        return self.read_rows(query.cypher(), dict(params))

    def read_rows(self, statement: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of a read-only query (the query library's Cypher), as dicts. Library queries
        return plain values (their NetworkX twins return the same rows), so the driver's
        conversion of graph values (`Record.data`) is not needed: a third of the client's time
        on a report of 100,000s of rows."""
        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            result = tx.run(statement, params)
            keys = result.keys()
            return [dict(zip(keys, values, strict=True)) for values in result.values()]

        with self._session(neo4j.READ_ACCESS) as session:
            return session.execute_read(work)

    def run_user_query(
        self, text: str, params: dict[str, Any], timeout: float, row_cap: int,
        byte_cap: int = DEFAULT_BYTE_CAP,
    ) -> tuple[list[str], list[dict[str, Any]], bool]:
        """An architect's ad-hoc Cypher: planned first and refused unless it only reads the
        graph (`cypher_guard`), then run in a read transaction with a timeout. Returns (columns,
        rows, truncated): at most `row_cap` rows and about `byte_cap` bytes of JSON; a single
        row over `byte_cap` is refused."""
        statement = cypher.query(text)  # the architect's own Cypher: the point of this method
        explain = cypher.query(f"EXPLAIN {text}")

        @neo4j.unit_of_work(timeout=timeout)
        def work(tx: ManagedTransaction) -> tuple[list[str], list[dict[str, Any]], bool]:
            summary = tx.run(explain, params).consume()
            refused = refusal(summary.query_type, summary.plan)
            if refused is not None:
                raise UserError(f"refused: {refused}")
            result = tx.run(statement, params)
            rows: list[dict[str, Any]] = []
            size = 0
            for record in result:
                if len(rows) == row_cap:
                    return list(result.keys()), rows, True
                row = {k: to_plain(record[k]) for k in record.keys()}  # noqa: SIM118
                size += len(json.dumps(row, default=str))
                if size > byte_cap:
                    if not rows:
                        raise UserError(f"refused: one row of the result is over {byte_cap:,} "
                                        "bytes; return less (e.g. a count, or a slice)")
                    return list(result.keys()), rows, True
                rows.append(row)
            return list(result.keys()), rows, False

        try:
            with self._session(neo4j.READ_ACCESS) as session:
                return session.execute_read(work)
        except ClientError as exc:
            code = exc.code or ""
            if "ForbiddenDueToTransactionType" in code or "AccessMode" in code or (
                    "write" in (exc.message or "").lower() and "read" in
                    (exc.message or "").lower()):
                raise UserError("refused: the query writes, and queries run read-only "
                                f"({_first_line(exc)})") from None
            if "Timeout" in code or "TransactionTimedOut" in code:
                raise UserError(f"the query ran past its {timeout:g} s timeout") from None
            raise UserError(f"Neo4j refused the query: {_first_line(exc)}") from None

    def _read(self, statement: LiteralString, **params: Any) -> list[neo4j.Record]:
        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(statement, params))

        with self._session(neo4j.READ_ACCESS) as session:
            return session.execute_read(work)

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> UpsertResult:
        if not nodes and not edges:
            return UpsertResult()
        try:
            with self._session() as session:
                return session.execute_write(lambda tx: apply_batch(_Neo4jBatch(tx), nodes, edges))
        except (ClientError, OverflowError, ValueError, TypeError) as exc:
            culprit = locate_unstorable(nodes, edges)
            if culprit:
                raise BatchRejectedError(culprit[2], culprit[0], culprit[1]) from None
            raise BatchRejectedError(_first_line(exc)) from None
        except ServiceUnavailable as exc:
            raise StoreUnavailableError(
                f"lost Neo4j at {self.uri} during a write (nothing of the batch was committed): "
                f"{_first_line(exc)}"
            ) from None

    def create_exactly(self, nodes: Sequence[tuple[str, Properties]],
                       edges: Sequence[tuple[str, str, str, Properties]]) -> None:
        """Create nodes (label, properties with `key`) and then edges (source key, type, target
        key, properties) exactly as given, in one transaction: a backfill's leftovers, already
        merged. Not for anything else: it bypasses the merge."""
        def work(tx: ManagedTransaction) -> None:
            by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for label, props in nodes:
                by_label[label].append({"props": props})
            for label, rows in by_label.items():
                tx.run(cypher.create_nodes(label), rows=rows).consume()
            groups = _group_edges([(src, edge_type, dst) for src, edge_type, dst, _ in edges])
            props_of = {(src, edge_type, dst): props for src, edge_type, dst, props in edges}
            for (src_kind, edge_type, dst_kind), group in groups.items():
                rows = [{"src": e[0], "dst": e[2], "props": props_of[e]} for e in group]
                tx.run(cypher.write_edges(src_kind, edge_type, dst_kind, True), rows=rows).consume()

        with self._session() as session:
            session.execute_write(work)

    def execute_write(self, work: Callable[[ManagedTransaction], Written]) -> Written:
        """Run `work` in one write transaction (retried on transient errors)."""
        with self._session() as session:
            return session.execute_write(work)

    def get_meta(self, name: str) -> str | None:
        records = self._read(cypher.GET_META, name=name)
        return str(records[0]["value"]) if records else None

    def set_meta(self, name: str, value: str) -> None:
        with self._session() as session:
            session.execute_write(
                lambda tx: tx.run(cypher.SET_META, name=name, value=value).consume())

    def add_to_meta(self, name: str, delta: int) -> int:
        with self._session() as session:
            return int(session.execute_write(lambda tx: tx.run(
                cypher.ADD_TO_META, name=name, delta=delta).single(strict=True)["value"]))

    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]:
        rows = [{"sop": sop, "series": series} for sop, series in members.items()]

        def work(tx: ManagedTransaction) -> dict[str, list[str]]:
            return {r["sop"]: list(r["waiters"])
                    for r in tx.run(cypher.RECORD_INSTANCES, rows=rows)}

        with self._session() as session:
            return session.execute_write(work)

    def forget_waiters(self, sops: Sequence[str]) -> None:
        with self._session() as session:
            session.execute_write(
                lambda tx: tx.run(cypher.FORGET_WAITERS, sops=list(sops)).consume())

    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]:
        def work(tx: ManagedTransaction) -> dict[str, str]:
            known = {r["sop"]: r["series"]
                     for r in tx.run(cypher.KNOWN_INSTANCES, sops=list(waiters))}
            rows = [{"sop": sop, "waiters": sorted(set(new))}
                    for sop, new in waiters.items() if sop not in known]
            tx.run(cypher.AWAIT_INSTANCES, rows=rows).consume()
            return known

        with self._session() as session:
            return session.execute_write(work)

    def clear(self) -> None:
        with self._session() as session:
            for statement in cypher.CLEAR:  # batched inner transactions need auto-commit
                session.run(statement).consume()

    # -- reads ------------------------------------------------------------------------------
    def get_node(self, key: str) -> StoredNode | None:
        kind = kind_of(key)
        records = self._read(cypher.get_node(kind), key=key)
        return StoredNode(key, kind, _without_key(records[0]["props"])) if records else None

    def get_edge(self, src: str, edge_type: EdgeType | str, dst: str) -> StoredEdge | None:
        edge_type = EdgeType(edge_type)
        records = self._read(cypher.get_edge(kind_of(src), edge_type, kind_of(dst)),
                             src=src, dst=dst)
        return StoredEdge(src, edge_type, dst, dict(records[0]["props"])) if records else None

    def edges(
        self, key: str, direction: Direction = "out", types: Sequence[EdgeType] | None = None
    ) -> list[StoredEdge]:
        kind = kind_of(key)
        wanted = [EdgeType(t).value for t in types] if types is not None else None
        found: dict[EdgeId, StoredEdge] = {}
        for way in ("out", "in") if direction == "both" else (direction,):
            for r in self._read(cypher.edges_at(kind, way), key=key, types=wanted):
                edge = StoredEdge(r["src"], EdgeType(r["type"]), r["dst"], dict(r["props"]))
                found[(edge.src, edge.type.value, edge.dst)] = edge
        return sorted_edges(list(found.values()))

    def get_nodes(self, keys: Sequence[str]) -> list[StoredNode]:
        """A query per kind and page of READ_PAGE keys (not one per key)."""
        found = {props["key"]: StoredNode(props["key"], kind, _without_key(props))
                 for kind, page in self._pages_by_kind(keys)
                 for props in self._read(cypher.get_nodes(kind), keys=page)[0]["page"]}
        return [found[key] for key in keys if key in found]

    def out_edges(self, keys: Sequence[str]) -> list[StoredEdge]:
        """A query per kind and page of READ_PAGE keys (not one per key)."""
        return sorted_edges([
            StoredEdge(r["src"], EdgeType(r["type"]), r["dst"], dict(r["props"]))
            for kind, page in self._pages_by_kind(keys)
            for r in self._read(cypher.out_edges(kind), keys=page)])

    @staticmethod
    def _pages_by_kind(keys: Sequence[str]) -> Iterator[tuple[NodeKind, list[str]]]:
        for kind, of_kind in _group(keys, kind_of).items():
            for start in range(0, len(of_kind), READ_PAGE):
                yield kind, of_kind[start:start + READ_PAGE]

    def neighbours(
        self, key: str, direction: Direction = "out", types: Sequence[EdgeType] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        if limit is None:
            return super().neighbours(key, direction, types)
        wanted = [EdgeType(t).value for t in types] if types is not None else None
        records = self._read(cypher.neighbour_keys(kind_of(key), direction), key=key,
                             types=wanted, limit=limit)
        return sorted(record["key"] for record in records)

    def shortest_path(
        self, src: str, dst: str, *, direction: Direction = "out",
        types: Sequence[EdgeType] | None = None, max_depth: int = 16,
    ) -> list[str] | None:
        check_depth(max_depth)
        if src == dst:
            return [src] if self.get_node(src) else None
        wanted = [EdgeType(t).value for t in types] if types is not None else None
        records = self._read(cypher.shortest_path(kind_of(src), kind_of(dst), direction),
                             src=src, dst=dst, types=wanted)
        if not records:
            return None
        path: list[str] = list(records[0]["keys"])
        return path if len(path) - 1 <= max_depth else None

    def iter_nodes(self, kind: NodeKind | None = None) -> Iterator[StoredNode]:
        """Every node (of a kind), in key order, read a page at a time."""
        for each in [kind] if kind else KINDS_IN_KEY_ORDER:
            after = ""
            while True:
                page = self._read(cypher.node_page(each), after=after, size=READ_PAGE)[0]["page"]
                for props in page:
                    yield StoredNode(props["key"], each, _without_key(props))
                if len(page) < READ_PAGE:
                    break
                after = page[-1]["key"]

    def keys_starting(self, kind: NodeKind, prefix: str, limit: int) -> list[str]:
        return [r["key"] for r in self._read(cypher.keys_starting(kind), prefix=prefix,
                                              limit=limit)]

    def iter_edges(self, edge_type: EdgeType | None = None) -> Iterator[StoredEdge]:
        """Every edge (of a type), by type and then (src, dst), read a page of sources at a time
        for each kind of source the model allows."""
        for each in [edge_type] if edge_type else list(EdgeType):
            sources = source_kinds(each)
            read = 0
            for source in sources:
                after: str | None = ""
                while after is not None:
                    record = self._read(cypher.edge_page(each, source), after=after,
                                        size=READ_PAGE)[0]
                    for src, dst, props in record["edges"]:
                        yield StoredEdge(src, each, dst, props)
                    read += len(record["edges"])
                    after = record["last"]
            if read != int(self._read(cypher.count_edges(each))[0]["n"]):
                for r in self._read(cypher.edges_from_other_kinds(each, sources)):
                    yield StoredEdge(r["src"], each, r["dst"], dict(r["props"]))

    def conflicts(self) -> list[Conflict]:
        return sort_conflicts([_conflict(r["props"]) for r in self._read(cypher.ALL_CONFLICTS)])

    def stats(self) -> Stats:
        def count(statement: LiteralString) -> int:
            return int(self._read(statement)[0]["n"])

        nodes = {k.value: n for k in sorted(NodeKind) if (n := count(cypher.count_nodes(k)))}
        edges = {t.value: n for t in sorted(EdgeType) if (n := count(cypher.count_edges(t)))}
        return Stats(nodes=nodes, edges=edges, conflicts=count(cypher.COUNT_CONFLICTS),
                     unresolved=count(cypher.COUNT_UNRESOLVED))


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0]


def to_plain(value: Any) -> Any:
    """Driver values as JSON-ready Python: nodes and relationships as dicts, times as text."""
    if isinstance(value, neo4j.graph.Node):
        return {"labels": sorted(value.labels), "properties": dict(value.items())}
    if isinstance(value, neo4j.graph.Relationship):
        return {"type": value.type, "start": value.start_node.get("key") if value.start_node
                else None, "end": value.end_node.get("key") if value.end_node else None,
                "properties": dict(value.items())}
    if isinstance(value, neo4j.graph.Path):
        return [to_plain(node) for node in value.nodes]
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value
