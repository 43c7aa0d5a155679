"""Queries of the web explorer (`/ui`): the estate's systems and finding a node; each a Cypher
file beside this module and its NetworkX twin here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from queries.graph import Graph, into, live, nodes, out, valid_at
from queries.impact import ESTATE_FACTS
from queries.library import Query, Row


def _estate_systems(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of, only = params["as_of"], params["systems"]
    rows = []
    for system, _ in nodes(graph, "System"):
        if only is not None and system not in only:
            continue
        copies = [graph.nodes[c] for c in into(graph, system, "STORED_IN", "ArchiveObject")
                  if live(graph.nodes[c], as_of)]
        rows.append(_system_row(graph, system, as_of) | {
            "copies": len(copies), "bytes": sum(int(c.get("bytes") or 0) for c in copies),
            "tiers": _tiers(c.get("storage_tier") for c in copies)})
    return rows


def _estate_facts(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of = params["as_of"]
    rows = []
    for system, _ in nodes(graph, "System"):
        entries, counted = 0, []
        for copy in into(graph, system, "STORED_IN", "ArchiveObject"):
            attrs = graph.nodes[copy]
            facts = {name: attrs.get(f"holding_{name}") for name in ESTATE_FACTS}
            if attrs.get("holding_system") != system or None in facts.values():
                continue
            entries += 1
            if live({"created_at": facts["created_at"] or None,
                     "disposed_at": facts["disposed_at"] or None}, as_of):
                counted.append(facts)
        rows.append(_system_row(graph, system, as_of) | {
            "copies": len(counted), "bytes": sum(int(c["bytes"]) for c in counted),
            "tiers": _tiers(c["tier"] for c in counted),
            "stored": len(into(graph, system, "STORED_IN")), "entries": entries})
    return rows


def _system_row(graph: Graph, system: str, as_of: str) -> Row:
    attrs = graph.nodes[system]
    return {"key": system, "kind": attrs.get("kind"), "region": attrs.get("region_code"),
            "status": attrs.get("status"), "vendor": attrs.get("vendor"),
            "feeds": [t for t in out(graph, system, "FEEDS", "System")
                      if valid_at(graph.edges[system, t, "FEEDS"], as_of)]}


def _tiers(tiers: Iterable[Any]) -> list[Any]:
    """The storage tiers named, sorted, once each (none and '' are no tier)."""
    return sorted({tier for tier in tiers if tier is not None and tier != ""})


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
ESTATE_FACTS_QUERY = Query("explore/estate_facts", _estate_facts)
FIND_NODES = Query("explore/find_nodes", _find_nodes)
