"""The node and relationship files of `neo4j-admin database import full`, from a staging store.

Each file holds elements of one label (or one relationship type between two labels) that have
the same properties with the same types, so that every row fills every column and each column
has one Neo4j type: `key:ID(<Label>)`, `name:string`, `name:long`, `name:double`,
`name:boolean` and their arrays. Every field is quoted (a quoted empty string stays an empty
string); array items are separated by U+001F. The few values the CSV format cannot carry
exactly (an empty list; a list item that is empty or holds U+001F; a NUL character) are left
out of the files, with the edges of such a node, and written over Bolt once the server is up
(`Leftovers`), so the imported graph equals what the pipeline writes, value for value.

Besides the graph: metadata conflicts (`LineageConflict`), the store's settings
(`LineageMeta`) and the instance index (`LineageInstance`), as the Neo4j store keeps them.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Set
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from itertools import islice, pairwise
from pathlib import Path
from typing import Any, TextIO

from lineage.backfill.forked import Forked, can_fork
from lineage.backfill.staging import StagingStore
from lineage.model import KIND_BY_PREFIX, Properties, Value
from lineage.stores.cypher import CONFLICT_LABEL, INSTANCE_LABEL, META_LABEL
from lineage.stores.neo4j import conflict_properties

ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_OPTION = "U+001F"
_SCALAR_TYPES = {str: "string", bool: "boolean", int: "long", float: "double"}
Signature = tuple[tuple[str, str], ...]  # (property name, Neo4j CSV type) in column order
_SHARED_ROWS = 100_000  # the edge maps whose rows are kept (most edges share a few)
_LABEL_BY_PREFIX = {prefix: kind.value for prefix, kind in KIND_BY_PREFIX.items()}
# From this many nodes and relationships on, several processes write the files, at most
# MAX_WRITERS (write_import_files).
PARALLEL_FROM, MAX_WRITERS = 100_000, 8


def _carried(value: Value) -> bool:
    """Whether the CSV format carries a value exactly: not an empty list, a list item that is
    empty or holds U+001F, or a NUL character."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        if not value:
            return False
        if isinstance(value[0], str):
            return not any(not item or ARRAY_DELIMITER in item or "\x00" in item
                           for item in value)
    return True


def _all_carried(props: Properties) -> bool:
    return all(map(_carried, props.values()))


def _field(value: Value) -> str:
    if isinstance(value, list):
        return ARRAY_DELIMITER.join(map(_field, value))
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        return repr(value)
    return str(value)


def _column_type(value: Value) -> str:
    if isinstance(value, list):
        return _SCALAR_TYPES[type(value[0])] + "[]"
    return _SCALAR_TYPES[type(value)]


def _csv_bytes(fields: Iterable[str]) -> int:
    """The bytes of a CSV line of these fields as `_Writers` writes it: each quoted, quotes in
    it doubled, a comma or the line end after it."""
    return sum(len(text.encode("utf-8", "surrogatepass")) + text.count('"') + 3
               for text in fields)


def csv_row_bytes(ids: tuple[str, ...], props: Properties) -> int:
    """The bytes of the CSV row of these ids and properties."""
    return _csv_bytes((*ids, *map(_field, props.values())))


def _header(id_columns: tuple[str, ...], signature: Signature) -> list[str]:
    return [*id_columns, *(f"{name}:{kind}" for name, kind in signature)]


@dataclass(frozen=True, slots=True)
class _Row:
    """The columns (name and type, in order) and fields of one property map."""

    signature: Signature
    fields: tuple[str, ...]
    multiline: bool


def _row(props: Properties) -> _Row:
    """The CSV row of a property map whose values are all carried (`_all_carried`)."""
    fields = tuple(map(_field, props.values()))
    signature = tuple(zip(props, map(_column_type, props.values()), strict=True))
    return _Row(signature, fields, any("\n" in text or "\r" in text for text in fields))


@dataclass(slots=True)
class ImportFile:
    """One file of the import: `--nodes=<label>=<path>` or `--relationships=<type>=<path>`."""

    option: str  # "nodes" or "relationships"
    group: str  # the label or relationship type
    path: Path
    rows: int = 0
    multiline: bool = False

    @property
    def argument(self) -> str:
        return f"--{self.option}={self.group}={self.path}"


@dataclass(slots=True)
class Leftovers:
    """Elements written over Bolt after the import: (label, properties with key) and
    (source key, type, target key, properties)."""

    nodes: list[tuple[str, Properties]] = field(default_factory=list)
    edges: list[tuple[str, str, str, Properties]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.edges)


@dataclass(slots=True)
class ImportFiles:
    files: list[ImportFile]
    leftovers: Leftovers
    nodes: int
    relationships: int
    writers: int = 1  # processes that wrote them

    @property
    def multiline(self) -> bool:
        return any(f.multiline for f in self.files)


class _Writers:
    """One open CSV writer per (option, group, id columns, signature), made on first use."""

    def __init__(self, folder: Path, part: str = ""):
        self.folder, self.part = folder, part  # `part` tells apart the files of two writers
        self.open: dict[tuple[str, str, tuple[str, ...], Signature],
                        tuple[TextIO, Any, ImportFile]] = {}

    def row(self, option: str, group: str, id_columns: tuple[str, ...], ids: tuple[str, ...],
            row: _Row) -> None:
        handle = (option, group, id_columns, row.signature)
        entry = self.open.get(handle)
        if entry is None:
            path = self.folder / f"{option}-{group}-{self.part}{len(self.open):04d}.csv"
            stream = path.open("w", encoding="utf-8", newline="")
            writer = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow(_header(id_columns, row.signature))
            entry = (stream, writer, ImportFile(option, group, path))
            self.open[handle] = entry
        _, writer, info = entry
        info.multiline = info.multiline or row.multiline
        writer.writerow(ids + row.fields)
        info.rows += 1

    def close(self) -> list[ImportFile]:
        for stream, _, _ in self.open.values():
            stream.close()
        return [info for _, _, info in self.open.values()]


def _special_nodes(staging: StagingStore, step: int = 1) -> Iterator[tuple[str, Properties]]:
    """The conflicts, settings and instance index as nodes (every `step`-th of each)."""
    for conflict in islice(staging.conflict_by_id.values(), 0, None, step):
        yield CONFLICT_LABEL, conflict_properties(conflict)
    for name, value in islice(staging.meta.items(), 0, None, step):
        yield META_LABEL, {"key": name, "value": value}
    for sop, entry in islice(staging.instances.items(), 0, None, step):
        props: Properties = {"key": sop}
        if entry.series is not None:
            props["series"] = entry.series
        if entry.waiters is not None:
            props["waiters"] = list(entry.waiters)
        yield INSTANCE_LABEL, props


@dataclass(slots=True)
class _Part:
    """Files written by one writer: a slice of the nodes and one of the relationships."""

    files: list[ImportFile]
    leftovers: Leftovers
    nodes: int = 0
    relationships: int = 0


@dataclass(frozen=True, slots=True)
class _Share:
    """What one writer writes: staged nodes and relationships by position (start, stop), and
    the special nodes (conflicts, settings, instance index) when `special`."""

    name: str  # tells its files apart from the other writers'
    nodes: tuple[int, int]
    relationships: tuple[int, int]
    special: bool


NODE_COST = 3  # a node's row costs about three relationships' (most edges share their row)


def _shares(nodes: int, relationships: int, writers: int) -> list[_Share]:
    """The graph cut into `writers` shares of about equal cost, in staging order."""
    total = NODE_COST * nodes + relationships

    def cut(at: int) -> tuple[int, int]:  # a position of the cost line: (nodes, relationships)
        if at <= NODE_COST * nodes:
            return -(-at // NODE_COST), 0
        return nodes, at - NODE_COST * nodes

    bounds = [cut(total * k // writers) for k in range(writers + 1)]
    return [_Share("" if writers == 1 else f"w{k + 1}-", (start[0], stop[0]),
                   (start[1], stop[1]), k == 0)
            for k, (start, stop) in enumerate(pairwise(bounds))]


def _write_share(staging: StagingStore, folder: Path, share: _Share, later: Set[str]
                 ) -> _Part:
    """The files of one share. The nodes in `later`, which the CSV format cannot carry, and
    their relationships are left over: written over Bolt after the import."""
    writers, leftovers = _Writers(folder, share.name), Leftovers()
    done = _Part([], leftovers)

    def node(label: str, key: str, props: Properties, carried: bool) -> None:
        if carried:
            writers.row("nodes", label, *_node_ids(label, key), _row(props))
        else:
            leftovers.nodes.append((label, {**props, "key": key}))
        done.nodes += 1

    for key, props in islice(staging.nodes.items(), *share.nodes):
        node(_label(key), key, props, key not in later)
    if share.special:
        for label, props in _special_nodes(staging):
            key = str(props.pop("key"))
            node(label, key, props, _all_carried(props))
    done.relationships = _write_relationships(staging, share.relationships, writers,
                                              leftovers, later)
    done.files = writers.close()
    return done


def _write_relationships(staging: StagingStore, positions: tuple[int, int], writers: _Writers,
                         leftovers: Leftovers, later: Set[str]) -> int:
    # The staging holds one map per distinct edge property map: each is made a row once (by
    # id: the staging keeps every map alive meanwhile, so an id names one map).
    shared: dict[int, _Row | None] = {}
    id_columns: dict[tuple[str, str], tuple[str, str]] = {}
    for (src, edge_type, dst), props in islice(staging.edges_by_id.items(), *positions):
        if id(props) in shared:
            row = shared[id(props)]
        else:
            row = _row(props) if _all_carried(props) else None
            if len(shared) < _SHARED_ROWS:
                shared[id(props)] = row
        if row is None or src in later or dst in later:
            leftovers.edges.append((src, edge_type, dst, props))
            continue
        labels = (_label(src), _label(dst))
        columns = id_columns.get(labels)
        if columns is None:
            columns = id_columns[labels] = _edge_columns(*labels)
        writers.row("relationships", edge_type, columns, (src, dst), row)
    return positions[1] - positions[0]


def _label(key: str) -> str:
    return _LABEL_BY_PREFIX[key.partition(":")[0]]


def _node_ids(label: str, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (f"key:ID({label})",), (key,)


def _edge_columns(src_label: str, dst_label: str) -> tuple[str, str]:
    return f":START_ID({src_label})", f":END_ID({dst_label})"


def _edge_ids(src: str, dst: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _edge_columns(_label(src), _label(dst)), (src, dst)


def estimated_size(staging: StagingStore, sample: int) -> int:
    """About how many bytes the import files of the staged graph take: the mean row of a
    stride sample (about `sample` of each: nodes, the special nodes, relationships; every
    element has the same chance) times their count, and one header per kind of file seen."""
    headers: dict[tuple[str, tuple[str, ...], Signature], int] = {}

    def row_bytes(group: str, ids: tuple[tuple[str, ...], tuple[str, ...]],
                  props: Properties) -> int:
        if _all_carried(props):
            signature = _row(props).signature
            handle = (group, ids[0], signature)
            if handle not in headers:
                headers[handle] = _csv_bytes(_header(ids[0], signature))
        return csv_row_bytes(ids[1], props)

    def mean_row(rows: Iterable[int]) -> float:
        total = count = 0
        for size in rows:
            total, count = total + size, count + 1
        return total / count if count else 0.0

    def every(count: int) -> int:
        return max(1, count // sample)

    nodes, edges = staging.nodes, staging.edges_by_id
    special = len(staging.conflict_by_id) + len(staging.meta) + len(staging.instances)
    size = len(nodes) * mean_row(
        row_bytes(_label(key), _node_ids(_label(key), key), props) for key, props in
        islice(nodes.items(), 0, None, every(len(nodes))))
    size += special * mean_row(
        row_bytes(label, _node_ids(label, str(props["key"])),
                  {name: value for name, value in props.items() if name != "key"})
        for label, props in _special_nodes(staging, every(special)))
    size += len(edges) * mean_row(
        row_bytes(edge_type, _edge_ids(src, dst), props) for (src, edge_type, dst), props in
        islice(edges.items(), 0, None, every(len(edges))))
    return round(size) + sum(headers.values())


# What a forked writer copies of the staged graph, as a share of the parent's memory per share
# of the graph it writes: it touches every object of its share (reference counts), and the pages
# holding them are copied (at size M: 440 MiB for half of a 990 MiB staging, BENCHMARKS.md).
CHILD_COPY = 0.9


def writers_that_fit(wanted: int, spare: int, staged: int) -> int:
    """The most writers, up to `wanted`, whose children's copies (`CHILD_COPY`) fit in `spare`
    bytes beside a process of `staged` bytes: n writers cost (n - 1) / n of CHILD_COPY."""
    for writers in range(wanted, 1, -1):
        if (writers - 1) * CHILD_COPY * staged / writers <= spare:
            return writers
    return 1


def default_writers() -> int:
    """Writers of import files by default: one per core, at most MAX_WRITERS."""
    return max(1, min(MAX_WRITERS, os.cpu_count() or 1))


# The names `_Writers` gives its files (`nodes-Study-0000.csv`,
# `relationships-COPY_OF-w2-0003.csv`): only those are ever replaced or removed, whatever else
# the folder holds.
_IMPORT_FILE = re.compile(r"(?:nodes|relationships)-[A-Za-z_]+-(?:w\d+-)?\d{4}\.csv\Z")


def import_files_in(folder: Path) -> list[Path]:
    """The import files a backfill wrote in `folder` (and nothing else)."""
    return [path for path in folder.glob("*.csv") if _IMPORT_FILE.match(path.name)]


def remove_import_files(folder: Path) -> int:
    """Remove the import files a backfill wrote in `folder`; their bytes."""
    removed = 0
    for path in import_files_in(folder):
        removed += path.stat().st_size
        path.unlink()
    return removed


def write_import_files(staging: StagingStore, folder: Path, writers: int = 1,
                       parallel_from: int | None = None) -> ImportFiles:
    """Write the staging store's graph into `folder` (created; files of an earlier run in it are
    replaced). With several `writers`, from `parallel_from` nodes and relationships on (default
    PARALLEL_FROM), and where the machine can fork, the graph is cut into shares of about equal
    cost: this process writes the first, a forked child each of the others, all at once (each
    child reads the staged graph as it was at the fork, and copies the memory it touches)."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_import_files(folder)
    later = frozenset(key for key, props in staging.nodes.items() if not _all_carried(props))
    count, edges = len(staging.nodes), len(staging.edges_by_id)
    if count + edges < (PARALLEL_FROM if parallel_from is None else parallel_from) or \
            not can_fork():
        writers = 1
    first, *others = _shares(count, edges, writers)
    with ExitStack() as running:
        children = [running.enter_context(Forked(
            partial(_write_share, staging, folder, share, later),
            f"import file writer {share.name.strip('-')}")) for share in others]
        parts = [_write_share(staging, folder, first, later)]
        parts += [child.result() for child in children]
    leftovers = Leftovers([n for part in parts for n in part.leftovers.nodes],
                          [e for part in parts for e in part.leftovers.edges])
    return ImportFiles([f for part in parts for f in part.files], leftovers,
                       sum(part.nodes for part in parts),
                       sum(part.relationships for part in parts), len(parts))
