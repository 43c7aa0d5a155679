"""GraphML written one element at a time, never holding the graph.

The elements go to a temporary file beside the target as they come (one pass over the store);
the keys they used, which GraphML declares first, are known once they have all been seen, and
then the document is put together: declaration, keys, the graph's own data, the elements.

Each (scope, name, type) gets a key of its own with an id unique in the document: the name
itself for the first one seen, `name.scope` or `name.scope.type` for the others. So a property
that holds numbers on some nodes and text on others reads back with each value's own type
(networkx's writer gives such keys one id, and the file does not open again). Lists are written
as JSON text and named in the graph attribute `list_properties` (`scope:name`), which
`lineage.stores.graphml_reader` reads.

Text is escaped so that it reads back as written: `&`, `<`, `>`, and carriage returns, which an
XML parser would otherwise turn into new lines. XML 1.0 cannot carry the other control
characters at all: a value holding one is refused, by element and property, never by value.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from lineage.errors import UserError

NAMESPACE = "http://graphml.graphdrawing.org/xmlns"
SCHEMA = "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPES: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string"}
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})

NodeItem = tuple[str, Mapping[str, Any]]  # key, attributes (its kind under "label")
EdgeItem = tuple[str, str, str, Mapping[str, Any]]  # source, target, type, attributes


class Keys:
    """The keys a document uses, in the order first seen, each with its unique id."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], str] = {}
        self.lists: set[str] = set()

    def id_for(self, scope: str, name: str, xml_type: str) -> str:
        found = self.ids.get((scope, name, xml_type))
        if found is not None:
            return found
        taken = set(self.ids.values())
        new = next(candidate for candidate in (name, f"{name}.{scope}",
                                               f"{name}.{scope}.{xml_type}")
                   if candidate not in taken)
        self.ids[(scope, name, xml_type)] = new
        return new

    def declarations(self) -> str:
        return "".join(
            f'  <key id="{key_id}" for="{scope}" attr.name="{name}" attr.type="{xml_type}" />\n'
            for (scope, name, xml_type), key_id in self.ids.items())


def write(path: Path, graph_data: Mapping[str, str], nodes: Iterable[NodeItem],
          edges: Iterable[EdgeItem]) -> None:
    """A directed multigraph's GraphML at `path`: `graph_data` (texts) on the graph, then the
    nodes and the edges in the order given (an edge's id is its type)."""
    keys = Keys()
    graph_lines = [_data(keys, "graph", name, value, "graph", "    ")
                   for name, value in graph_data.items()]
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=path.parent) as body:
        for key, attributes in nodes:
            _element(body, keys, "node", f'<node id="{_attribute(key)}"', attributes, key)
        for src, dst, kind, attributes in edges:
            _element(body, keys, "edge", f'<edge source="{_attribute(src)}" target='
                     f'"{_attribute(dst)}" id="{_attribute(kind)}"', attributes,
                     f"{src} -[{kind}]-> {dst}")
        graph_lines.append(_data(keys, "graph", "list_properties",
                                 json.dumps(sorted(keys.lists)), "graph", "    "))
        body.seek(0)
        with path.open("w", encoding="utf-8") as out:
            out.write("<?xml version='1.0' encoding='utf-8'?>\n"
                      f'<graphml xmlns="{NAMESPACE}" xmlns:xsi="{XSI}" '
                      f'xsi:schemaLocation="{NAMESPACE} {SCHEMA}">\n')
            out.write(keys.declarations())
            out.write('  <graph edgedefault="directed">\n')
            out.writelines(graph_lines)
            shutil.copyfileobj(body, out, 1 << 20)
            out.write("  </graph>\n</graphml>\n")


def _element(out: TextIO, keys: Keys, scope: str, opening: str,
             attributes: Mapping[str, Any], where: str) -> None:
    if not attributes:
        out.write(f"    {opening} />\n")
        return
    names = sorted(attributes, key=lambda name: (name != "label", name))  # its kind first
    lines = "".join(_data(keys, scope, name, attributes[name], where, "      ")
                    for name in names)
    out.write(f"    {opening}>\n{lines}    </{scope}>\n")


def _data(keys: Keys, scope: str, name: str, value: Any, where: str, indent: str) -> str:
    if isinstance(value, list):
        keys.lists.add(f"{scope}:{name}")
        value = json.dumps(value)
    xml_type = XML_TYPES.get(type(value))
    if xml_type is None:
        raise UserError(f"cannot export {where[:200]} as GraphML: its {name} is a "
                        f"{type(value).__name__}, which GraphML has no type for")
    text = str(value)
    if _NOT_IN_XML.search(text):
        raise UserError(f"cannot export {where[:200]} as GraphML: its {name} holds a control "
                        "character XML cannot carry; export --format node-link keeps it")
    return (f'{indent}<data key="{keys.id_for(scope, name, xml_type)}">'
            f"{text.translate(_TEXT_ESCAPES)}</data>\n")


def _attribute(text: str) -> str:
    return text.translate(_ATTRIBUTE_ESCAPES)
