"""What systems hold: queries over the copies stored in one system. Each a Cypher file beside
this module and its NetworkX twin here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queries.graph import Graph, into, minimum, out
from queries.library import Query, Row


def _live_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system = params["system"]
    if system not in graph:
        return []
    rows: list[Row] = []
    for key in into(graph, system, "STORED_IN", "ArchiveObject"):
        attrs = graph.nodes[key]
        if attrs.get("disposed_at") is None and attrs.get("rejected_at") is None:
            rows.append({"key": key, "holds": minimum(out(graph, key, "COPY_OF")),
                         "instance_count": attrs.get("instance_count")})
    return rows


def _study_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system, study = params["system"], params["study"]
    if system not in graph:
        return []
    found = set()
    for key in into(graph, system, "STORED_IN", "ArchiveObject"):
        attrs = graph.nodes[key]
        if attrs.get("disposed_at") is not None or attrs.get("rejected_at") is not None:
            continue
        if any(item == study or study in out(graph, item, "PART_OF", "Study")
               for item in out(graph, key, "COPY_OF")):
            found.add(key)
    return [{"key": key} for key in sorted(found)]


LIVE_COPIES = Query("holdings/live_copies", _live_copies)
STUDY_COPIES = Query("holdings/study_copies", _study_copies)
