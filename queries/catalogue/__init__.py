"""The architects' catalogue: documented Cypher files beside this module, each with its NetworkX
twin here, so that `lineage query --name`, the API's `/catalogue` and the differential tests run
them on either store with the same rows.

Parameters: `key` (a study or series key) and `as_of` (a stored timestamp; see
`lineage.timefmt.as_of_moment` for the dates and times users may give).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from lineage.errors import UserError
from lineage.stores.base import GraphStore
from lineage.timefmt import as_of_moment
from queries.graph import Graph, into, live, nodes, out
from queries.library import Query, Row, run_query


def _access_paths(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    study, as_of = params["key"], params["as_of"]
    if graph.nodes.get(study, {}).get("label") != "Study":
        return []
    through: set[str] = set()
    series = into(graph, study, "PART_OF", "Series")
    for item in [study, *series]:
        through |= {system for copy in into(graph, item, "COPY_OF", "ArchiveObject")
                    if live(graph.nodes[copy], as_of)
                    for system in out(graph, copy, "STORED_IN", "System")}
    members = {study, *into(graph, study, "PART_OF")}
    members |= {copy for member in list(members) for copy in into(graph, member, "COPY_OF")}
    through |= {dataset for member in members for dataset in into(graph, member, "INCLUDES",
                                                                     "Dataset")}
    rows = [{"profile": profile, "role": graph.nodes[profile].get("role"), "through": target,
             "actions": graph.edges[profile, target, "GRANTS"].get("actions")}
            for target in through for profile in into(graph, target, "GRANTS", "AccessProfile")]
    return sorted(rows, key=lambda row: (row["profile"], row["through"]))


def _copies_per_system_region(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    totals: dict[tuple[str, Any], list[int]] = defaultdict(lambda: [0, 0])
    for copy, attrs in nodes(graph, "ArchiveObject"):
        if not live(attrs, params["as_of"]):
            continue
        for system in out(graph, copy, "STORED_IN", "System"):
            region = attrs.get("region_code")
            group = totals[system, region if region is not None
                           else graph.nodes[system].get("region_code")]
            group[0] += 1
            group[1] += int(attrs.get("bytes") or 0)
    return [{"system": system, "region": region, "copies": copies, "bytes": size}
            for (system, region), (copies, size) in sorted(totals.items(), key=_nulls_last)]


def _nulls_last(item: tuple[tuple[str, Any], Any]) -> tuple[str, bool, str]:
    (system, region), _ = item
    return system, region is None, str(region or "")


def _derivation_chain(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    start = params["key"]
    if graph.nodes.get(start, {}).get("label") != "Series":
        return []
    distance: dict[str, int] = {}
    at_distance = {0: {start}}
    for step in range(1, 11):  # paths of 1..10 DERIVED_FROM edges, as in the Cypher
        reached = {target for node in at_distance[step - 1]
                   for target in out(graph, node, "DERIVED_FROM")} - set(distance)
        for node in reached:
            distance[node] = step
        at_distance[step] = reached
    rows = []
    for source, hops in distance.items():
        if graph.nodes[source].get("label") != "Series":
            continue
        kinds = [graph.edges[before, source, "DERIVED_FROM"].get("kind")
                 for before in into(graph, source, "DERIVED_FROM")
                 if before in at_distance[hops - 1]]
        present = [kind for kind in kinds if kind is not None]
        rows.append({"key": source, "distance": hops, "kind": min(present) if present else None})
    return sorted(rows, key=lambda row: (row["distance"], row["key"]))


def _sole_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    copies: dict[str, list[str]] = defaultdict(list)
    systems: dict[str, set[str]] = defaultdict(set)
    for copy, attrs in nodes(graph, "ArchiveObject"):
        if not live(attrs, params["as_of"]):
            continue
        stored = out(graph, copy, "STORED_IN", "System")
        for item in out(graph, copy, "COPY_OF"):
            copies[item] += [copy] * len(stored)
            systems[item] |= set(stored)
    return [{"key": item, "system": next(iter(systems[item])), "copies": copies[item]}
            for item in sorted(copies) if len(systems[item]) == 1]


def _uncataloged_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for copy, _ in nodes(graph, "ArchiveObject"):
        items = out(graph, copy, "COPY_OF")
        found: list[tuple[str | None, str]] = [(None, "no COPY_OF")] if not items else [
            (item, "COPY_OF an unresolved reference") for item in items
            if graph.nodes[item].get("unresolved") is True]
        systems: list[str | None] = list(out(graph, copy, "STORED_IN", "System")) or [None]
        rows += [{"key": copy, "system": system, "copy_of": item, "reason": reason}
                 for item, reason in found for system in systems]
    return sorted(rows, key=lambda row: (row["key"], row["system"] is None, row["system"] or "",
                                         row["copy_of"] is None, row["copy_of"] or ""))


ACCESS_PATHS = Query("catalogue/access_paths", _access_paths)
COPIES_PER_SYSTEM_REGION = Query("catalogue/copies_per_system_region",
                                 _copies_per_system_region)
DERIVATION_CHAIN = Query("catalogue/derivation_chain", _derivation_chain)
SOLE_COPIES = Query("catalogue/sole_copies", _sole_copies)
UNCATALOGED_COPIES = Query("catalogue/uncataloged_copies", _uncataloged_copies)

CATALOGUE = {query.name.removeprefix("catalogue/"): query
             for query in (ACCESS_PATHS, COPIES_PER_SYSTEM_REGION, DERIVATION_CHAIN,
                           SOLE_COPIES, UNCATALOGED_COPIES)}


def describe() -> dict[str, str]:
    """Catalogue query name → its documentation (the leading `//` comment)."""
    found = {}
    for name, query in sorted(CATALOGUE.items()):
        doc = " ".join(line[2:].strip() for line in query.cypher().splitlines()
                       if line.startswith("//"))
        found[name] = doc.removeprefix(f"{name}:").strip()
    return found


def params_of(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """A catalogue query's parameters: `as_of` a date or a time (default now), all named ones
    present (a clear error names the missing)."""
    text = text_of(name)
    wanted = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    values = dict(given)
    if "as_of" in wanted:
        raw = values.get("as_of")
        try:
            values["as_of"] = as_of_moment(None if raw is None else str(raw))[0]
        except ValueError as error:
            raise UserError(f"as_of: {error}") from None
    missing = sorted(wanted - set(values))
    if missing:
        raise UserError(f"catalogue query {name} needs the parameter(s) {', '.join(missing)}")
    return values


def text_of(name: str) -> str:
    if name not in CATALOGUE:
        raise UserError(f"no catalogue query {name!r}; see lineage query --list")
    return CATALOGUE[name].cypher()


def run_catalogue(store: GraphStore, name: str, given: dict[str, Any]) -> list[Row]:
    """The rows of a catalogue query by name, on either store."""
    return run_query(store, CATALOGUE[name], params_of(name, given))
