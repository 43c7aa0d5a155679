"""An exported node-link JSON file read one node or edge at a time into the compact view of an
export (`lineage.stores.compact`), never as a whole document.

The top-level object is walked by hand; its `nodes` and `edges` lists are decoded an item at a
time (`json.JSONDecoder.raw_decode` on a window of the file that grows only while an item is
incomplete), every other member whole (`graph`: the meta, conflicts and source store). Members
come in any order and with any white space, as any JSON writer may lay them out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import networkx as nx

from lineage.stores.compact import CompactGraphBuilder

CHUNK = 1 << 20
MAX_VALUE = 1 << 28  # characters: one node, edge or the graph's attributes; no export nears it
# Field names of node-link JSON that cannot collide with property names (edges have `source`).
NODE_LINK_FIELDS = {"source": "_from", "target": "_to", "name": "_key", "key": "_type",
                    "edges": "edges"}
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def read(path: Path) -> nx.MultiDiGraph:
    builder = CompactGraphBuilder()
    attributes: dict[str, Any] = {}
    with path.open(encoding="utf-8") as source:
        stream = _Stream(source)
        for name in stream.members():
            if name == "nodes" and stream.peek() == "[":
                for item in stream.items():
                    _add_node(builder, item)
            elif name == NODE_LINK_FIELDS["edges"] and stream.peek() == "[":
                for item in stream.items():
                    _add_edge(builder, item)
            else:
                value = stream.value()
                if name == "graph":
                    if not isinstance(value, dict):
                        raise ValueError("the member graph is not an object")
                    attributes = value
    graph = builder.build_export()
    graph.graph.update(attributes)
    return graph


def _add_node(builder: CompactGraphBuilder, item: Any) -> None:
    attributes = _object(item, "a node")
    builder.add_exported_node(_text(attributes.pop(NODE_LINK_FIELDS["name"], None),
                                    "a node's key"), attributes)


def _add_edge(builder: CompactGraphBuilder, item: Any) -> None:
    properties = _object(item, "an edge")
    src, dst, kind = (_text(properties.pop(NODE_LINK_FIELDS[field], None), f"an edge's {field}")
                      for field in ("source", "target", "key"))
    builder.add_exported_edge(src, kind, dst, properties)


def _object(item: Any, what: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{what} is not an object")
    return item


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is missing or not text")
    return value


class _Stream:
    """JSON text read a window at a time: the window holds the value being decoded."""

    def __init__(self, source: TextIO) -> None:
        self.source = source
        self.text = ""
        self.at = 0  # in `text`
        self.before = 0  # characters of the file dropped before `text`
        self.ended = False

    def peek(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            match = _SPACE.match(self.text, self.at)
            self.at = match.end() if match else self.at
            if self.at < len(self.text):
                return self.text[self.at]
            if not self._read_more():
                return ""

    def expect(self, character: str) -> None:
        if self.peek() != character:
            raise ValueError(f"expected {character!r} at character {self.before + self.at:,}")
        self.at += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.at)
            except json.JSONDecodeError as exc:
                if len(self.text) - self.at < MAX_VALUE and self._read_more():
                    continue  # the window ended inside the value
                raise ValueError(f"{exc.msg} at character {self.before + exc.pos:,}") from None
            if end == len(self.text) and self._read_more():
                continue  # a number the window cut may go on
            self.at = end
            return value

    def members(self) -> Iterator[str]:
        """The top-level object's member names; the caller reads each one's value."""
        self.expect("{")
        if self.peek() == "}":
            self.at += 1
        else:
            while True:
                name = self.value()
                if not isinstance(name, str):
                    raise ValueError("a member name that is not text")
                self.expect(":")
                yield name
                if self.peek() == ",":
                    self.at += 1
                    continue
                self.expect("}")
                break
        if self.peek() != "":
            raise ValueError(f"text after the graph at character {self.before + self.at:,}")

    def items(self) -> Iterator[Any]:
        """The items of a list, one at a time."""
        self.expect("[")
        if self.peek() == "]":
            self.at += 1
            return
        while True:
            yield self.value()
            if self.peek() == ",":
                self.at += 1
                continue
            self.expect("]")
            return

    def _read_more(self) -> bool:
        chunk = self.source.read(CHUNK)
        if not chunk:
            self.ended = True
            return False
        self.before += self.at
        self.text = self.text[self.at:] + chunk
        self.at = 0
        return True
