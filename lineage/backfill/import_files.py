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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lineage.backfill.staging import StagingStore
from lineage.model import Properties, Value, kind_of_valid
from lineage.stores.cypher import CONFLICT_LABEL, INSTANCE_LABEL, META_LABEL
from lineage.stores.neo4j import conflict_properties

ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_OPTION = "U+001F"
_SCALAR_TYPES = {str: "string", bool: "boolean", int: "long", float: "double"}
Signature = tuple[tuple[str, str], ...]  # (property name, Neo4j CSV type) in column order


def _type_of(value: Value) -> str | None:
    """The CSV column type of a value, or None when the CSV format cannot carry it exactly."""
    if isinstance(value, list):
        if not value:
            return None
        item_type = _SCALAR_TYPES[type(value[0])]
        if item_type == "string" and any(not item or ARRAY_DELIMITER in str(item)
                                          or "\x00" in str(item) for item in value):
            return None
        return item_type + "[]"
    if isinstance(value, str) and "\x00" in value:
        return None
    return _SCALAR_TYPES[type(value)]


def _field(value: Value) -> str:
    if isinstance(value, list):
        return ARRAY_DELIMITER.join(_field(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


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

    @property
    def multiline(self) -> bool:
        return any(f.multiline for f in self.files)


class _Writers:
    """One open CSV writer per (option, group, id columns, signature), made on first use."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.open: dict[tuple[str, str, tuple[str, ...], Signature],
                        tuple[TextIO, Any, ImportFile]] = {}

    def row(self, option: str, group: str, id_columns: tuple[str, ...], signature: Signature,
            ids: tuple[str, ...], values: Iterable[Value]) -> None:
        handle = (option, group, id_columns, signature)
        entry = self.open.get(handle)
        if entry is None:
            path = self.folder / f"{option}-{group}-{len(self.open):04d}.csv"
            stream = path.open("w", encoding="utf-8", newline="")
            writer = csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow([*id_columns, *(f"{name}:{kind}" for name, kind in signature)])
            entry = (stream, writer, ImportFile(option, group, path))
            self.open[handle] = entry
        _, writer, info = entry
        fields = [_field(value) for value in values]
        if not info.multiline and any("\n" in text or "\r" in text for text in fields):
            info.multiline = True
        writer.writerow([*ids, *fields])
        info.rows += 1

    def close(self) -> list[ImportFile]:
        for stream, _, _ in self.open.values():
            stream.close()
        return [info for _, _, info in self.open.values()]


def _signature(props: Properties) -> Signature | None:
    signature = []
    for name, value in props.items():
        kind = _type_of(value)
        if kind is None:
            return None
        signature.append((name, kind))
    return tuple(signature)


def _special_nodes(staging: StagingStore) -> Iterator[tuple[str, Properties]]:
    for conflict in staging.conflict_by_id.values():
        yield CONFLICT_LABEL, conflict_properties(conflict)
    for name, value in staging.meta.items():
        yield META_LABEL, {"key": name, "value": value}
    for sop, entry in staging.instances.items():
        props: Properties = {"key": sop}
        if entry.series is not None:
            props["series"] = entry.series
        if entry.waiters is not None:
            props["waiters"] = list(entry.waiters)
        yield INSTANCE_LABEL, props


def write_import_files(staging: StagingStore, folder: Path) -> ImportFiles:
    """Write the staging store's graph into `folder` (created; files of an earlier run in it are
    replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    writers = _Writers(folder)
    leftovers = Leftovers()
    nodes = relationships = 0

    def node(label: str, key: str, props: Properties) -> None:
        signature = _signature(props)
        if signature is None:
            leftovers.nodes.append((label, {**props, "key": key}))
        else:
            writers.row("nodes", label, (f"key:ID({label})",), signature, (key,),
                        props.values())

    for key, props in staging.nodes.items():
        node(kind_of_valid(key).value, key, props)
        nodes += 1
    # an edge of a node written later goes later too: the import needs both ends in its files
    later = {str(props["key"]) for _, props in leftovers.nodes}
    for label, props in _special_nodes(staging):
        key = str(props.pop("key"))
        node(label, key, props)
        nodes += 1
    for (src, edge_type, dst), props in staging.edges_by_id.items():
        relationships += 1
        signature = _signature(props)
        if signature is None or src in later or dst in later:
            leftovers.edges.append((src, edge_type, dst, props))
            continue
        src_label, dst_label = kind_of_valid(src).value, kind_of_valid(dst).value
        writers.row("relationships", edge_type,
                    (f":START_ID({src_label})", f":END_ID({dst_label})"), signature,
                    (src, dst), props.values())
    return ImportFiles(writers.close(), leftovers, nodes, relationships)
