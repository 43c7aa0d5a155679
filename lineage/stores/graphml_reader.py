"""An exported GraphML file read one element at a time into the compact view of an export.

The file is parsed as a stream (`defusedxml`'s iterparse: a DTD, an entity or an external
reference is refused where it appears) and each node or edge goes into the view as soon as it
ends, then is dropped: what is held is the view, never the document or a second graph. The
keys and the graph's own data (`list_properties` says which properties are JSON lists) are read
first; an export of this engine writes them before its elements, and for a file that has them
after (networkx's writer, this engine's exports before the streamed writer) that first reading
goes through the file once more.

A value that does not read as its key's type is named by element and property, never repeated:
it may be a patient's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import networkx as nx
from defusedxml.ElementTree import iterparse

from lineage.stores.compact import CompactGraphBuilder

NS = "{http://graphml.graphdrawing.org/xmlns}"
KEY, GRAPH, NODE, EDGE, HYPEREDGE, DATA, DEFAULT = (NS + tag for tag in (
    "key", "graph", "node", "edge", "hyperedge", "data", "default"))
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
DECODERS: dict[str, Callable[[str], Any]] = {
    "string": str, "boolean": lambda text: _BOOLEANS[text.strip().lower()],
    "int": int, "long": int, "integer": int, "float": float, "double": float}


class Key:
    def __init__(self, element: Element) -> None:
        self.id = element.get("id", "")
        name, kind = element.get("attr.name"), element.get("attr.type", "string")
        if not name:
            raise ValueError(f"key {self.id[:80]!r} has no attr.name")
        if kind not in DECODERS:
            raise ValueError(f"key {self.id[:80]!r} has a type GraphML does not define")
        self.name, self.type, self.scope = name, kind, element.get("for", "all")
        default = element.find(DEFAULT)
        self.default = None if default is None else self.decode(default.text, "its default")

    def decode(self, text: str | None, where: str) -> Any:
        if text is None:
            text = ""  # <data key="k"></data>: the empty text
        try:
            return DECODERS[self.type](text)
        except (ValueError, KeyError):
            raise ValueError(f"{where}: {self.name} is not a {self.type}") from None


def read(path: Path) -> nx.MultiDiGraph:
    """The export at `path` as the compact view (`lineage.stores.compact`), with its graph
    attributes `meta`, `conflicts` and `source_store` decoded."""
    keys, graph_data = _head(path)
    lists = set(json.loads(graph_data.get("list_properties", "[]")))
    listed = {scope: {name.partition(":")[2] for name in lists if name.startswith(scope + ":")}
              for scope in ("node", "edge")}
    defaults = {scope: {key.name: key.default for key in keys.values()
                        if key.default is not None and key.scope in (scope, "all")}
                for scope in ("node", "edge")}
    builder = CompactGraphBuilder()
    for part, element in _parts(path):
        if part not in ("node", "edge"):
            continue
        where = _where(element)
        attributes = {**defaults[part], **_data(element, keys, where)}
        for name in attributes.keys() & listed[part]:
            attributes[name] = json.loads(attributes[name])
        if part == "node":
            builder.add_exported_node(_required(element, "id"), attributes)
        else:
            builder.add_exported_edge(_required(element, "source"), _required(element, "id"),
                                      _required(element, "target"), attributes)
    graph = builder.build_export()
    graph.graph.update(meta=json.loads(graph_data.get("meta", "{}")),
                       conflicts=json.loads(graph_data.get("conflicts", "[]")),
                       source_store=graph_data.get("source_store"))
    return graph


def _head(path: Path) -> tuple[dict[str, Key], dict[str, Any]]:
    """The keys, and the graph's own data: read up to the first node or edge when the graph's
    data come before the elements, else through the whole file."""
    keys: dict[str, Key] = {}
    graph_data: dict[str, Any] = {}
    for part, element in _parts(path):
        if part == "key":
            key = Key(element)
            keys[key.id] = key
        elif part == "data":
            key = _key(keys, element, "the graph")
            graph_data[key.name] = key.decode(element.text, "the graph")
        elif "list_properties" in graph_data:
            break  # a node or an edge, after the graph's data
    return keys, graph_data


def _parts(path: Path) -> Iterator[tuple[str, Element]]:
    """("key", element) for each key, ("data", element) for the graph's own data, ("node" or
    "edge", element) for each element of the graph, each once it has ended; an element of the
    graph is dropped once the next is asked for."""
    graph: Element | None = None
    depth = 0
    with path.open("rb") as source:
        for event, element in iterparse(source, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                if element.tag == GRAPH and depth == 2:
                    graph = element
                elif element.tag == HYPEREDGE:
                    raise ValueError("a hyperedge, which an export never has")
                continue
            depth -= 1
            if element.tag == KEY and depth == 1:
                yield "key", element
            elif element.tag == DATA and depth == 2:  # graphml > graph > data
                yield "data", element
            elif element.tag in (NODE, EDGE) and depth == 2 and graph is not None:
                yield ("node" if element.tag == NODE else "edge"), element
                graph.clear()


def _data(element: Element, keys: dict[str, Key], where: str) -> dict[str, Any]:
    found = {}
    for data in element.iterfind(DATA):
        key = _key(keys, data, where)
        found[key.name] = key.decode(data.text, where)
    return found


def _key(keys: dict[str, Key], data: Element, where: str) -> Key:
    key = keys.get(data.get("key", ""))
    if key is None:
        raise ValueError(f"{where}: data of an undeclared key {data.get('key', '')[:80]!r}")
    return key


def _where(element: Element) -> str:
    if element.tag == NODE:
        return f"node {element.get('id', '')[:80]!r}"
    return (f"edge {element.get('source', '')[:80]!r} -[{element.get('id', '')[:40]}]-> "
            f"{element.get('target', '')[:80]!r}")


def _required(element: Element, name: str) -> str:
    value = element.get(name)
    if not value:
        raise ValueError(f"{_where(element)} has no {name}")
    return value
