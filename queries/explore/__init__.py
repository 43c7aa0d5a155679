"""Queries of the web explorer (`/ui`): the estate's systems and finding a node; each a Cypher
file beside this module and its NetworkX twin here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queries.graph import Graph, into, live, nodes, out, valid_at
from queries.library import Query, Row


def _estate_systems(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of = params["as_of"]
    rows = []
    for system, attrs in nodes(graph, "System"):
        copies = [graph.nodes[c] for c in into(graph, system, "STORED_IN", "ArchiveObject")
                  if live(graph.nodes[c], as_of)]
        tiers = sorted({c["storage_tier"] for c in copies if c.get("storage_tier") is not None})
        rows.append({
            "key": system, "kind": attrs.get("kind"), "region": attrs.get("region_code"),
            "status": attrs.get("status"), "vendor": attrs.get("vendor"),
            "copies": len(copies), "bytes": sum(int(c.get("bytes") or 0) for c in copies),
            "tiers": tiers,
            "feeds": [t for t in out(graph, system, "FEEDS", "System")
                      if valid_at(graph.edges[system, t, "FEEDS"], as_of)],
        })
    return rows


# The kinds whose name and whose accession the search reads (find_nodes.cypher's branches).
NAMED_KINDS = frozenset({"System", "Dataset", "Job"})
ACCESSION_KINDS = frozenset({"Study", "Order", "Report"})


def _found(key: str, attrs: Mapping[str, Any], text: str) -> bool:
    kind = attrs.get("label")
    name, accession = attrs.get("name"), attrs.get("accession")
    return (text in key.lower()
            or (kind in NAMED_KINDS and isinstance(name, str) and text in name.lower())
            or (kind in ACCESSION_KINDS and isinstance(accession, str)
                and accession.lower() == text))


def _find_nodes(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    text = params["text"]
    found = []
    for key, attrs in graph.nodes(data=True):
        if _found(key, attrs, text):
            exact = text in (key.lower(), key.partition(":")[2].lower())
            found.append((not exact, key))
    return [{"key": key, "name": graph.nodes[key].get("name"),
             "accession": graph.nodes[key].get("accession")}
            for _, key in sorted(found)[:params["limit"]]]


ESTATE_SYSTEMS = Query("explore/estate_systems", _estate_systems)
FIND_NODES = Query("explore/find_nodes", _find_nodes)
