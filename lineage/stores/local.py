"""The local store: a durable SQLite file (WAL, one transaction per batch) with an in-memory
NetworkX MultiDiGraph view that the reads and the offline queries run on.

The SQLite file is the truth; the graph view is loaded at open, updated after each committed
batch, and reloaded when another process has committed to the same file (`PRAGMA data_version`).
Edge keys in the MultiDiGraph are the edge types, so one edge of a type joins two nodes, as in
Neo4j. Node attributes are the stored properties plus `label` (the node kind).
"""

from __future__ import annotations

import functools
import gc
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import networkx as nx

from lineage.errors import BatchRejectedError, StoreUnavailableError
from lineage.merge import Conflict
from lineage.model import Edge, Node, NodeKind, Properties, kind_of_valid
from lineage.sqlite_files import connect
from lineage.stores.base import (
    EdgeId,
    GraphStore,
    Stats,
    UpsertResult,
    WritePlan,
    apply_batch,
    check_storable,
    locate_unstorable,
    sort_conflicts,
)
from lineage.stores.compact import CompactGraphBuilder
from lineage.stores.graph_view import GraphViewReads, apply_plan

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (key TEXT PRIMARY KEY, kind TEXT NOT NULL, props TEXT NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_by_kind ON nodes (kind);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, props TEXT NOT NULL,
    PRIMARY KEY (src, type, dst)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst, type);
CREATE TABLE IF NOT EXISTS conflicts (id TEXT PRIMARY KEY, element TEXT NOT NULL,
    props TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS instances (sop TEXT PRIMARY KEY, series TEXT, waiters TEXT)
    WITHOUT ROWID;
"""
_CHUNK = 500  # keys per `IN (...)` lookup, below SQLite's variable limit
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _serialized(method: _Method) -> _Method:
    """One thread at a time in the store: they share one SQLite connection and one view."""
    @functools.wraps(method)
    def serialized(self: LocalStore, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)
    return cast(_Method, serialized)


def _encode(owner: str, properties: Properties) -> str:
    check_storable(owner, properties)
    return json.dumps(properties, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class _SqliteBatch:
    """BatchAccess over an open SQLite transaction."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def lock_nodes(self, if_new: Mapping[str, Properties]) -> dict[str, Properties]:
        # The whole file is locked already (BEGIN IMMEDIATE).
        found: dict[str, Properties] = {}
        for chunk in _chunks(list(if_new)):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key, props FROM nodes WHERE key IN ({marks})", chunk)
            found.update((key, json.loads(props)) for key, props in rows)
        self.db.executemany(
            "INSERT INTO nodes (key, kind, props) VALUES (?, ?, ?)",
            ((key, kind_of_valid(key).value, _encode(key, props))
             for key, props in if_new.items() if key not in found))
        return found

    def read_edges(self, ids: Sequence[EdgeId]) -> dict[EdgeId, Properties]:
        found: dict[EdgeId, Properties] = {}
        for edge_id in ids:
            row = self.db.execute(
                "SELECT props FROM edges WHERE src = ? AND type = ? AND dst = ?", edge_id
            ).fetchone()
            if row:
                found[edge_id] = json.loads(row[0])
        return found

    def read_conflicts(self, ids: Sequence[str]) -> dict[str, Conflict]:
        found: dict[str, Conflict] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT props FROM conflicts WHERE id IN ({marks})", chunk)
            for (props,) in rows:
                conflict = Conflict(**json.loads(props))
                found[conflict.id] = conflict
        return found

    def write(self, plan: WritePlan) -> None:
        self.db.executemany(
            "UPDATE nodes SET props = ? WHERE key = ?",
            ((_encode(key, props), key) for key, props in plan.nodes.items()),
        )
        self.db.executemany(
            "INSERT INTO edges (src, type, dst, props) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (src, type, dst) DO UPDATE SET props = excluded.props",
            ((*edge_id, _encode(" ".join(edge_id), props))
             for edge_id, props in (*plan.new_edges.items(), *plan.edges.items())),
        )
        self.db.executemany(
            "INSERT INTO conflicts (id, element, props) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET props = excluded.props",
            ((c.id, c.element, json.dumps(c.as_dict(), sort_keys=True))
             for c in plan.conflicts.values()),
        )


class LocalStore(GraphViewReads, GraphStore):
    """The embedded store: `LocalStore("lineage.db")`.

    Safe to share between threads (the API's workers): every read and write holds `lock`, so
    that no thread reads the view while another changes it, and the threads' transactions on
    the one SQLite connection never interleave. Other processes writing the same file wait for
    SQLite's own lock (`busy_timeout`)."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0):
        self.lock = threading.RLock()
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.location = str(self.path)
        self._db: sqlite3.Connection | None = None
        self._graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._data_version = -1

    def reading(self) -> threading.RLock:
        return self.lock

    # -- life cycle -------------------------------------------------------------------------
    @_serialized
    def open(self) -> None:
        if self._db is not None:
            return
        if self.path.parent and not self.path.parent.exists():
            raise StoreUnavailableError(
                f"cannot open local store {self.location}: folder {self.path.parent} does not exist"
            )
        try:
            db = connect(self.path, "local store", isolation_level=None,
                         check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(
                f"cannot open local store {self.location}: {exc} (is it a lineage store file?)"
            ) from None
        self._db = db
        self._reload()

    @_serialized
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
            self._graph = nx.MultiDiGraph()  # the view's memory goes with the store
            self._data_version = -1

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        assert self._db is not None
        return self._db

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The NetworkX view, current with every commit to the file (this process's or not)."""
        with self.lock:
            if self.db.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
                self._reload()
            return self._graph

    def _reload(self) -> None:
        # Built aside and swapped in: a reader in another thread (the API) never sees a half view.
        builder = CompactGraphBuilder()
        self._data_version = self.db.execute("PRAGMA data_version").fetchone()[0]
        for key, kind, props in self.db.execute("SELECT key, kind, props FROM nodes"):
            builder.add_node(key, kind, json.loads(props))
        rows = self.db.execute("SELECT src, type, dst, props FROM edges")
        for src, edge_type, dst, props in rows:
            builder.add_edge(src, edge_type, dst, json.loads(props), text=props)
        self._graph = builder.build()
        # Millions of long-lived dicts: keep the cyclic collector from walking them all again
        # on every full collection (seconds each at 100k studies).
        gc.collect()
        gc.freeze()

    # -- writes -----------------------------------------------------------------------------
    @_serialized
    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> UpsertResult:
        db = self.db
        graph = self.graph  # current before the batch, so that only the batch needs applying
        batch = _RecordingBatch(db)
        try:
            with self._transaction(db):
                result = apply_batch(batch, nodes, edges)
        except ValueError as exc:
            culprit = locate_unstorable(nodes, edges)
            if culprit:
                raise BatchRejectedError(culprit[2], culprit[0], culprit[1]) from None
            raise BatchRejectedError(str(exc)) from None
        self._data_version = db.execute("PRAGMA data_version").fetchone()[0]
        apply_plan(graph, batch.plan)
        return result

    @_serialized
    def get_meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    @_serialized
    def set_meta(self, name: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))

    @_serialized
    def add_to_meta(self, name: str, delta: int) -> int:
        db = self.db
        with self._transaction(db):  # a store another writer holds is unavailable, as for a batch
            row = db.execute(
                "INSERT INTO meta (name, value) VALUES (?, MAX(0, ?)) ON CONFLICT (name) DO "
                "UPDATE SET value = MAX(0, CAST(value AS INTEGER) + ?) RETURNING value",
                (name, delta, delta)).fetchone()
        return int(row[0])

    @_serialized
    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]:
        db = self.db
        released: dict[str, list[str]] = {}
        with self._transaction(db):
            for chunk in _chunks(list(members)):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT sop, waiters FROM instances WHERE sop IN ({marks}) "
                                  "AND waiters IS NOT NULL", chunk)
                released.update((sop, json.loads(waiters)) for sop, waiters in rows)
            db.executemany(
                "INSERT INTO instances (sop, series, waiters) VALUES (?, ?, NULL) "
                "ON CONFLICT (sop) DO UPDATE SET series = excluded.series",
                members.items())
        return released

    @_serialized
    def forget_waiters(self, sops: Sequence[str]) -> None:
        self.db.executemany("UPDATE instances SET waiters = NULL WHERE sop = ?",
                            ((sop,) for sop in sops))

    @_serialized
    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]:
        db = self.db
        known: dict[str, str] = {}
        pending: dict[str, list[str]] = {}
        with self._transaction(db):
            for chunk in _chunks(list(waiters)):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT sop, series, waiters FROM instances WHERE sop IN ({marks})", chunk)
                for sop, series, stored in rows:
                    if series is not None:
                        known[sop] = series
                    else:
                        pending[sop] = json.loads(stored or "[]")
            db.executemany(
                "INSERT INTO instances (sop, series, waiters) VALUES (?, NULL, ?) "
                "ON CONFLICT (sop) DO UPDATE SET waiters = excluded.waiters",
                ((sop, json.dumps(sorted(set(pending.get(sop, [])) | set(new))))
                 for sop, new in waiters.items() if sop not in known))
        return known

    @contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[None]:
        """One write transaction: committed when the block ends, else undone. A store another
        writer holds past busy_timeout is unavailable; so is a disk that is full or fails
        (`CheckedConnection`), with the transaction undone."""
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(
                f"local store {self.location} is locked by another writer ({exc}); "
                "nothing was written") from None
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have undone it already (a full disk)
                db.execute("ROLLBACK")
            raise

    @_serialized
    def clear(self) -> None:
        self.db.executescript(
            "BEGIN; DELETE FROM nodes; DELETE FROM edges; DELETE FROM conflicts; "
            "DELETE FROM meta; DELETE FROM instances; COMMIT;")
        self._reload()

    # -- reads: GraphViewReads, plus what lives in SQLite only --------------------------
    @_serialized
    def keys_starting(self, kind: NodeKind, prefix: str, limit: int) -> list[str]:
        rows = self.db.execute(  # a range of the primary key; U+10FFFF sorts after any text
            "SELECT key FROM nodes WHERE key >= ? AND key < ? AND kind = ? ORDER BY key LIMIT ?",
            (prefix, prefix + "\U0010ffff", kind.value, limit))
        return [key for (key,) in rows]

    @_serialized
    def conflicts(self) -> list[Conflict]:
        rows = self.db.execute("SELECT props FROM conflicts")
        return sort_conflicts([Conflict(**json.loads(props)) for (props,) in rows])

    @_serialized
    def stats(self) -> Stats:
        db = self.db
        nodes = dict(db.execute("SELECT kind, count(*) FROM nodes GROUP BY kind ORDER BY kind"))
        edges = dict(db.execute("SELECT type, count(*) FROM edges GROUP BY type ORDER BY type"))
        conflicts = db.execute("SELECT count(*) FROM conflicts").fetchone()[0]
        unresolved = db.execute(
            "SELECT count(*) FROM nodes WHERE json_extract(props, '$.unresolved') = 1"
        ).fetchone()[0]
        return Stats(nodes=nodes, edges=edges, conflicts=conflicts, unresolved=unresolved)


class _RecordingBatch(_SqliteBatch):
    """Keeps the written plan, so the graph view can apply it after the commit."""

    plan: WritePlan

    def write(self, plan: WritePlan) -> None:
        super().write(plan)
        self.plan = plan
