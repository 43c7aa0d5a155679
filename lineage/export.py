"""Auditor exports: GraphML, node-link JSON, W3C PROV-JSON and a self-contained HTML report
(`lineage.html_report`), each with a manifest.

`export(store, format, path, scope=None, depth=3)` writes PATH and PATH.manifest.json (SHA-256
of the file, counts by kind and type, time, source store, engine version). Both files are
written to a temporary name beside the target and renamed into place, so a failure leaves no
partial file. A scope exports the lineage neighbourhood of one node (every lineage edge, both
directions, up to `depth` steps) instead of the whole graph.

GraphML and node-link exports carry what the offline queries need — every property, list
properties, the applied retention policy and the metadata conflicts — and open again as a
read-only store (`--store FILE.graphml` / `--store FILE.json`) that answers every query as the
source store did. GraphML has no list type: list properties are written as JSON text and named
in the graph attribute `list_properties` (`lineage.graphml_writer`). A whole store's GraphML
and node-link exports are written as the store reads them, never held as a graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

import networkx as nx
from prov.model import ProvDocument

from lineage import __version__, graphml_writer
from lineage.errors import UserError
from lineage.identity import FINGERPRINT_META
from lineage.memory import read_meminfo, reserve, size_text
from lineage.model import EdgeType
from lineage.retention.apply import (
    ESTATE_FACTS_META,
    HOLDING_FACTS_META,
    HOLDING_PENDING_META,
    POLICY_META,
    STUDY_FACTS_META,
)
from lineage.stores import GraphStore
from lineage.stores.node_link_reader import NODE_LINK_FIELDS
from lineage.timefmt import utc_now
from queries.impact import UPSTREAM_IS_SOURCE, UPSTREAM_IS_TARGET

FORMATS = ("graphml", "node-link", "prov-json", "html")
EXPORTED_META = (POLICY_META, STUDY_FACTS_META, FINGERPRINT_META)
# The copies' holding facts describe the whole store: a scoped export, which holds only part of
# it, walks the copies for its decommissions and estate (its meta leaves them out).
WHOLE_STORE_META = (HOLDING_FACTS_META, ESTATE_FACTS_META, HOLDING_PENDING_META)
LINEAGE_EDGE_TYPES = sorted(EdgeType(name) for name in UPSTREAM_IS_SOURCE + UPSTREAM_IS_TARGET)
NAMESPACE = "https://image-lineage.example/ns#"
T = TypeVar("T")
# Nodes a scoped export holds at most unless told otherwise: its graph is built in memory (about
# 6 KB a node or edge), and a scope at a system reaches every copy it holds in one step.
SCOPE_MAX_NODES = 100_000
# What a whole export that builds the graph holds per node or edge (measured at 55,869:
# PROV-JSON 5.8 KB, HTML 1.3 KB); GraphML and node-link are streamed and hold a page.
GRAPH_BYTES_PER_ELEMENT = {"prov-json": 6_000, "html": 1_500}


def snapshot(store: GraphStore, scope: str | None = None, depth: int = 3,
             max_nodes: int = SCOPE_MAX_NODES) -> nx.MultiDiGraph:
    """The store (or the lineage neighbourhood of `scope`, at most `max_nodes` nodes) as a
    NetworkX graph with metadata."""
    graph = nx.MultiDiGraph()
    if scope is None:
        for node in store.iter_nodes():
            graph.add_node(node.key, label=node.kind.value, **node.properties)
        for edge in store.iter_edges():
            graph.add_edge(edge.src, edge.dst, key=edge.type.value, **edge.properties)
    else:
        _add_neighbourhood(graph, store, scope, depth, max_nodes)
    graph.graph.update(_graph_attributes(store, scope, graph.__contains__))
    return graph


def _graph_attributes(store: GraphStore, scope: str | None,
                      present: Callable[[str], bool]) -> dict[str, Any]:
    """What an export carries besides nodes and edges: the meta its queries need, the
    conflicts about what it holds (`present`: is a node key in it), where it came from."""
    names = EXPORTED_META + (WHOLE_STORE_META if scope is None else ())
    return {"meta": {name: value for name in names
                     if (value := store.get_meta(name)) is not None},
            "conflicts": [c.as_dict() for c in store.conflicts()
                          if _element_in(c.element, present)],
            "source_store": store.location}


def _element_in(element: str, present: Callable[[str], bool]) -> bool:
    """A node key, or an edge `src -[TYPE]-> dst` whose ends are both present."""
    if " -[" not in element:
        return present(element)
    src, _, rest = element.partition(" -[")
    return present(src) and present(rest.partition("]-> ")[2])


def _add_neighbourhood(graph: nx.MultiDiGraph, store: GraphStore, root: str,
                      depth: int, max_nodes: int) -> None:
    """The nodes up to `depth` lineage steps (either direction) from `root`, and every edge
    between two of them, read from the store around the root (not the whole store). A scope
    that reaches more than `max_nodes` nodes is refused as soon as the walk finds one more."""
    if store.get_node(root) is None:
        raise UserError(f"no node {root!r} in {store.location} to scope the export")
    found, frontier = {root}, [root]
    for steps in range(1, depth + 1):
        step: set[str] = set()
        for key in frontier:
            # max_nodes + 1 of a node's neighbours are enough to decide: if it has more, at
            # least max_nodes + 1 - len(found | step) of those read are new, one over the cap
            step.update(other for other in store.neighbours(key, "both", LINEAGE_EDGE_TYPES,
                                                             limit=max_nodes + 1)
                        if other not in found)
            if len(found) + len(step) > max_nodes:
                raise UserError(
                    f"the scope {root!r} reaches more than {max_nodes:,} nodes within {steps} "
                    f"step{'s' * (steps > 1)} (at {key!r}): export it with a smaller --depth, "
                    "or raise --max-nodes; a whole store's node-link or GraphML export is "
                    "written without holding it")
        found |= step
        frontier = sorted(step)
    in_key_order = sorted(found)
    for node in store.get_nodes(in_key_order):  # every node before any edge, in key order
        graph.add_node(node.key, label=node.kind.value, **node.properties)
    for edge in store.out_edges(in_key_order):  # each source's in (type, dst) order
        if edge.dst in found:
            graph.add_edge(edge.src, edge.dst, key=edge.type.value, **edge.properties)


# -- writers ------------------------------------------------------------------------------------
def _graphml(graph: nx.MultiDiGraph, path: Path) -> None:
    graphml_writer.write(path, _graphml_data(graph.graph), graph.nodes(data=True),
                         graph.edges(keys=True, data=True))


def _graphml_data(attributes: dict[str, Any]) -> dict[str, str]:
    """The graph's own attributes as GraphML texts."""
    return {"meta": json.dumps(attributes["meta"], sort_keys=True),
            "conflicts": json.dumps(attributes["conflicts"], sort_keys=True),
            "source_store": attributes["source_store"]}


def _node_link(graph: nx.MultiDiGraph, path: Path) -> None:
    data = nx.node_link_data(graph, **NODE_LINK_FIELDS)
    with path.open("w", encoding="utf-8") as out:
        json.dump(data, out, sort_keys=True, indent=1)


Counts = tuple[Counter[str], Counter[str]]  # nodes by kind, edges by type


def _node_link_streamed(store: GraphStore, path: Path) -> Counts:
    """The whole store as node-link JSON written element by element as the store reads them,
    never held in memory: the layout `_node_link` writes (json, sorted keys, indent 1)."""
    nodes: Counter[str] = Counter()
    edges: Counter[str] = Counter()
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n "directed": true,\n "edges": ')
        _stream_list(out, (_counted(edges, edge.type.value, {
            **edge.properties, NODE_LINK_FIELDS["source"]: edge.src,
            NODE_LINK_FIELDS["target"]: edge.dst, NODE_LINK_FIELDS["key"]: edge.type.value})
            for edge in store.iter_edges()))
        out.write(',\n "graph": ' + _indented(_whole_store_attributes(store), 1).lstrip())
        out.write(',\n "multigraph": true,\n "nodes": ')
        _stream_list(out, (_counted(nodes, node.kind.value, {
            **node.properties, "label": node.kind.value, NODE_LINK_FIELDS["name"]: node.key})
            for node in store.iter_nodes()))
        out.write("\n}")
    return nodes, edges


def _graphml_streamed(store: GraphStore, path: Path) -> Counts:
    """The whole store as GraphML, element by element as the store reads them."""
    nodes: Counter[str] = Counter()
    edges: Counter[str] = Counter()
    graphml_writer.write(
        path, _graphml_data(_whole_store_attributes(store)),
        ((node.key, _counted(nodes, node.kind.value,
                             {"label": node.kind.value, **node.properties}))
         for node in store.iter_nodes()),
        ((edge.src, edge.dst, edge.type.value, _counted(edges, edge.type.value, edge.properties))
         for edge in store.iter_edges()))
    return nodes, edges


def _whole_store_attributes(store: GraphStore) -> dict[str, Any]:
    """The graph attributes of a whole-store export, read without a set of every key."""
    return _graph_attributes(store, None, lambda key: store.get_node(key) is not None)


def _counted(counter: Counter[str], name: str, item: dict[str, Any]) -> dict[str, Any]:
    counter[name] += 1
    return item


def _stream_list(out: TextIO, items: Iterator[dict[str, Any]]) -> None:
    """A JSON list two levels deep, as json.dump(indent=1) lays it out."""
    separator = "[\n"
    for item in items:
        out.write(separator + _indented(item, 2))
        separator = ",\n"
    out.write("[]" if separator == "[\n" else "\n ]")


def _indented(value: Any, level: int) -> str:
    return textwrap.indent(json.dumps(value, sort_keys=True, indent=1), " " * level)


def _prov_json(graph: nx.MultiDiGraph, path: Path) -> None:
    """Nodes as PROV entities (Runs as activities, Systems as agents); DERIVED_FROM and
    COPIED_FROM as wasDerivedFrom, READ as used, WROTE as wasGeneratedBy, STORED_IN as
    wasAttributedTo, the others as wasInfluencedBy with the lineage type."""
    document = ProvDocument()
    document.add_namespace("lineage", NAMESPACE)
    kinds = {}
    for key, attrs in graph.nodes(data=True):
        label = attrs["label"]
        properties = {f"lineage:{name}": _prov_value(value) for name, value in attrs.items()
                      if name != "label"}
        properties["lineage:kind"] = label
        identifier = _prov_id(key)
        if label == "Run":
            document.activity(identifier, other_attributes=properties)
        elif label == "System":
            document.agent(identifier, properties)
        else:
            document.entity(identifier, properties)
        kinds[key] = label
    for src, dst, kind, attrs in sorted(graph.edges(keys=True, data=True)):
        extra = {f"lineage:{name}": _prov_value(value) for name, value in attrs.items()}
        extra["lineage:type"] = kind
        a, b = _prov_id(src), _prov_id(dst)
        if kind in ("DERIVED_FROM", "COPIED_FROM"):
            document.wasDerivedFrom(a, b, other_attributes=extra)
        elif kind == "READ":
            document.used(a, b, other_attributes=extra)
        elif kind == "WROTE":
            document.wasGeneratedBy(b, a, other_attributes=extra)
        elif kind == "STORED_IN":
            document.wasAttributedTo(a, b, other_attributes=extra)
        else:
            document.wasInfluencedBy(a, b, other_attributes=extra)
    path.write_text(str(document.serialize(format="json", indent=1)), encoding="utf-8")


def _prov_id(key: str) -> str:
    return "lineage:" + key.replace(" ", "%20")


def _prov_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


WRITERS: dict[str, Callable[[nx.MultiDiGraph, Path], None]] = {
    "graphml": _graphml, "node-link": _node_link, "prov-json": _prov_json}
# Whole-store writers that read the store element by element and hold none of it.
STREAMED: dict[str, Callable[[GraphStore, Path], Counts]] = {
    "graphml": _graphml_streamed, "node-link": _node_link_streamed}


def export(
    store: GraphStore, fmt: str, path: Path, scope: str | None = None, depth: int = 3,
    meminfo: Callable[[], dict[str, int]] = read_meminfo, max_nodes: int | None = None,
) -> dict[str, Any]:
    """Write the export and its manifest; returns the manifest. A scope that reaches more than
    `max_nodes` nodes is refused before anything is written."""
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    _writable(path)
    if scope is None and fmt in GRAPH_BYTES_PER_ELEMENT:
        _check_memory(store, fmt, meminfo)
    extra: dict[str, Any] = {}
    if scope is None and fmt in STREAMED:  # a whole store, however large
        nodes, edges = _write_atomically(path, lambda tmp: STREAMED[fmt](store, tmp))
    else:
        graph = snapshot(store, scope, depth, max_nodes or SCOPE_MAX_NODES)
        if fmt == "html":
            from lineage import html_report

            extra["data_sha256"] = _write_atomically(
                path, lambda tmp: html_report.write(store, graph, tmp, scope))
        else:
            _write_atomically(path, lambda tmp: WRITERS[fmt](graph, tmp))
        nodes = Counter(attrs["label"] for _, attrs in graph.nodes(data=True))
        edges = Counter(kind for _, _, kind in graph.edges(keys=True))
    manifest = {
        "file": path.name, "format": fmt, "sha256": _sha256(path),
        "bytes": path.stat().st_size,
        "nodes_by_kind": dict(sorted(nodes.items())),
        "edges_by_type": dict(sorted(edges.items())),
        "exported_at": utc_now(), "source_store": store.location,
        "engine_version": __version__, "scope": scope, "depth": depth if scope else None,
        **extra,
    }
    manifest_path = path.with_name(path.name + ".manifest.json")
    text = json.dumps(manifest, indent=2) + "\n"
    _write_atomically(manifest_path, lambda tmp: _write_text(tmp, text))
    return manifest


def _check_memory(store: GraphStore, fmt: str, meminfo: Callable[[], dict[str, int]]) -> None:
    """Refuse a whole export that would hold more than the memory the machine has to spare
    (`MemAvailable` less a reserve; not checked where that cannot be read)."""
    try:
        memory = meminfo()
    except OSError:
        return
    if "MemAvailable" not in memory:
        return
    stats = store.stats()
    elements = sum(stats.nodes.values()) + sum(stats.edges.values())
    needed = elements * GRAPH_BYTES_PER_ELEMENT[fmt]
    spare = memory["MemAvailable"] - reserve(memory)
    if needed > spare:
        raise UserError(
            f"a whole {fmt} export of {elements:,} nodes and edges would hold about "
            f"{size_text(needed)} in memory, and this machine has {size_text(max(0, spare))} "
            "to spare: export --format node-link or graphml (written straight from the "
            "store), or a part of it with --scope")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as read:
        while chunk := read.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied")


def _write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """`write` into a temporary file beside `path`, then renamed into place; what it returns."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    os.close(handle)
    temporary = Path(name)
    try:
        written = write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; an export is a document
        os.replace(temporary, path)
        return written
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)
