"""Impact queries: decommissioning a system and tracing lineage; each a Cypher file beside this
module and its NetworkX twin here.

Lineage orientation (trace): for DERIVED_FROM, COPIED_FROM, READ, COPY_OF, PART_OF, OF_PATIENT,
INCLUDES, STORED_IN, DESCRIBES and RUN_OF (a run's job) the upstream end is the edge's target;
for FEEDS, WROTE and FULFILLED_BY it is the source. "down" walks from upstream to
downstream, "up" the other way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queries.graph import (
    Graph,
    active_at,
    adjacent,
    covered,
    into,
    live,
    nodes,
    out,
    valid_at,
)
from queries.library import Query, Row

UPSTREAM_IS_TARGET = ["COPIED_FROM", "COPY_OF", "DERIVED_FROM", "DESCRIBES", "INCLUDES",
                      "OF_PATIENT", "PART_OF", "READ", "RUN_OF", "STORED_IN"]
UPSTREAM_IS_SOURCE = ["FEEDS", "FULFILLED_BY", "WROTE"]


def step_types(direction: str) -> dict[str, list[str]]:
    """`out_types` / `in_types` of a trace step in a direction (down, up, both)."""
    if direction == "down":
        return {"out_types": UPSTREAM_IS_SOURCE, "in_types": UPSTREAM_IS_TARGET}
    if direction == "up":
        return {"out_types": UPSTREAM_IS_TARGET, "in_types": UPSTREAM_IS_SOURCE}
    every = sorted(UPSTREAM_IS_SOURCE + UPSTREAM_IS_TARGET)
    return {"out_types": every, "in_types": every}


def _copies_live(graph: Graph, item: str, as_of: str) -> list[tuple[str, str | None]]:
    """(copy, system) of the live copies of a series or study."""
    found: list[tuple[str, str | None]] = []
    for copy in into(graph, item, "COPY_OF", "ArchiveObject"):
        if live(graph.nodes[copy], as_of):
            systems: list[str | None] = list(out(graph, copy, "STORED_IN", "System"))
            found += [(copy, system) for system in systems or [None]]
    return found


def _sole_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system, as_of = params["system"], params["as_of"]
    if system not in graph:
        return []
    if params.get("items") is None:
        items = {item for obj in into(graph, system, "STORED_IN", "ArchiveObject")
                 if live(graph.nodes[obj], as_of) for item in out(graph, obj, "COPY_OF")}
    else:  # these items only
        items = {item for item in params["items"] if item in graph
                 and graph.nodes[item].get("label") in ("Series", "Study")}
    holds = [event for event, attrs in nodes(graph, "ComplianceEvent")
             if attrs.get("event_type") == "legal_hold" and active_at(attrs, as_of)]
    held = {event: covered(graph, event) for event in holds}
    rows = []
    for item in sorted(items):
        copies = _copies_live(graph, item, as_of)
        if any(s is not None and s != system for _, s in copies):
            continue
        mine = sorted({c for c, s in copies if s == system})
        if not mine:  # an item given that the system holds no live copy of
            continue
        current = [graph.nodes[c] for c in mine
                   if graph.nodes[c].get("retention_status") == "computed"
                   and graph.nodes[c].get("retention_policy_version") == params["policy_version"]]
        dates = [a["retain_until"] for a in current if a.get("retain_until") is not None]
        rows.append({
            "key": item, "kind": graph.nodes[item].get("label"), "copies": mine,
            "retain_until": max(dates) if dates else None,
            "retention_unknown": len(mine) - len(current),
            "holds": sorted(e for e in holds if held[e].intersection(mine)),
        })
    return rows


def _holdings(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system, as_of = params["system"], params["as_of"]
    if system not in graph:
        return []
    copies = [obj for obj in _stored(graph, system, params.get("later"))
              if live(graph.nodes[obj], as_of)]
    if not copies:
        return []
    items = {item for obj in copies for item in out(graph, obj, "COPY_OF")}
    elsewhere: dict[str, set[str]] = {}
    for item in items:
        for _, other in _copies_live(graph, item, as_of):
            if other is not None and other != system:
                elsewhere.setdefault(other, set()).add(item)
    return [{"copies": len(copies), "items": len(items),
             "elsewhere": [{"system": other, "items": len(held)}
                           for other, held in sorted(elsewhere.items())]}]


def _downstream(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system, as_of = params["system"], params["as_of"]
    if system not in graph:
        return []
    via: dict[str, set[str]] = {}
    for target in out(graph, system, "FEEDS", "System"):
        if valid_at(graph.edges[system, target, "FEEDS"], as_of):
            via.setdefault(target, set()).add("feeds")
    for obj in into(graph, system, "STORED_IN", "ArchiveObject"):
        for copy in into(graph, obj, "COPIED_FROM", "ArchiveObject"):
            if live(graph.nodes[copy], as_of):
                for target in out(graph, copy, "STORED_IN", "System"):
                    if target != system:
                        via.setdefault(target, set()).add("copied_from")
        if live(graph.nodes[obj], as_of):
            for dataset in into(graph, obj, "INCLUDES", "Dataset"):
                via.setdefault(dataset, set()).add("includes")
    return [{"key": key, "via": sorted(ways)} for key, ways in sorted(via.items())]


def _access(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system = params["system"]
    if system not in graph:
        return []
    return [{"key": profile, "role": graph.nodes[profile].get("role"),
             "actions": graph.edges[profile, system, "GRANTS"].get("actions")}
            for profile in into(graph, system, "GRANTS", "AccessProfile")
            if valid_at(graph.edges[profile, system, "GRANTS"], params["as_of"])]


def _gaps(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system, as_of = params["system"], params["as_of"]
    if system not in graph:
        return []
    upstream = [u for u in into(graph, system, "FEEDS", "System")
                if (graph.nodes[u].get("kind") or "") != "modality"]
    rows = []
    for obj in _stored(graph, system, params.get("copies")):
        attrs = graph.nodes[obj]
        if not live(attrs, as_of):
            continue
        reasons: set[str] = set()
        items: list[str | None] = list(out(graph, obj, "COPY_OF")) or [None]
        for item in items:
            iattrs = graph.nodes[item] if item else {}
            studies = out(graph, item, "PART_OF", "Study") if item else []
            if item is None:
                reasons.add("copy of nothing known")
            if (attrs.get("unresolved") or iattrs.get("unresolved")
                    or any(graph.nodes[s].get("unresolved") for s in studies)):
                reasons.add("unresolved reference")
            if iattrs.get("deidentified") and item and not out(graph, item, "DERIVED_FROM"):
                reasons.add("de-identified with no link to its original")
            held_upstream = item is not None and any(
                up in out(graph, c, "STORED_IN", "System")
                for c in into(graph, item, "COPY_OF", "ArchiveObject") for up in upstream)
            if upstream and not out(graph, obj, "COPIED_FROM") and not held_upstream:
                reasons.add("no recorded source in the systems feeding it")
        if reasons:
            rows.append({"key": obj, "reasons": sorted(reasons)})
    return rows


def _holding_facts(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for key in sorted(set(params["keys"])):
        attrs = graph.nodes.get(key) if key in graph else None
        if attrs is None or attrs.get("label") != "ArchiveObject":
            continue
        systems = sorted(set(out(graph, key, "STORED_IN", "System")))
        items = sorted(set(out(graph, key, "COPY_OF")))
        system = _one_of(systems)
        siblings = {c for item in items for c in into(graph, item, "COPY_OF", "ArchiveObject")}
        moments = [graph.nodes[c].get(name) or "" for c in siblings | {key}
                   for name in ("created_at", "disposed_at")]
        holders = {h for c in siblings if graph.nodes[c].get("disposed_at") is None
                   for h in out(graph, c, "STORED_IN", "System")} - {system}
        rows.append({
            "key": key, "system": system, "item": _one_of(items), "exact_from": max(moments),
            "others": "-" if attrs.get("disposed_at") is not None else "\t".join(sorted(holders)),
            "gap": not items or bool(attrs.get("unresolved")) or any(_gap_item(graph, item)
                                                                     for item in items),
            "tier": _known(attrs.get("storage_tier"), ""), "bytes": _known(attrs.get("bytes"), 0),
            "created_at": _known(attrs.get("created_at"), ""),
            "disposed_at": _known(attrs.get("disposed_at"), ""),
        })
    return rows


def _known(value: Any, unknown: Any) -> Any:
    return unknown if value is None else value


def _one_of(keys: list[str]) -> str:
    """The one key of a list: '' for none, '*' for several (`holding_facts`)."""
    return "" if not keys else keys[0] if len(keys) == 1 else "*"


def _gap_item(graph: Graph, item: str) -> bool:
    """An item that leaves its copies a lineage gap whatever feeds their system."""
    attrs = graph.nodes[item]
    return (bool(attrs.get("unresolved"))
            or bool(attrs.get("deidentified") and not out(graph, item, "DERIVED_FROM"))
            or any(graph.nodes[s].get("unresolved") for s in out(graph, item, "PART_OF", "Study")))


def _decommission_facts(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system = params["system"]
    if system not in graph or graph.nodes[system].get("label") != "System":
        return []
    groups: dict[str, tuple[int, set[str]]] = {}
    entries, several, sole, later, later_items, gaps = 0, 0, set(), [], set(), []
    # the copies whose facts name the system are among those stored in it: relationships are
    # never deleted, so a copy stored elsewhere since names several systems ('*')
    for key in set(into(graph, system, "STORED_IN", "ArchiveObject")):
        attrs = graph.nodes[key]
        facts = [attrs.get(f"holding_{name}") for name in HOLDING_FACTS]
        if attrs.get("holding_system") != system or any(f is None for f in facts):
            continue
        others, item = attrs["holding_others"], attrs["holding_item"]
        known = {item} if item not in ("", "*") else set()
        entries += 1
        several += item == "*"
        if attrs["holding_gap"]:
            gaps.append(key)
        if attrs["holding_exact_from"] > params["as_of"]:
            later.append(key)
            later_items.update(known)
            continue
        copies, items = groups.get(others, (0, set()))
        groups[others] = copies + 1, items | known
        if others == "":
            sole.update(known)
    upstream = [u for u in into(graph, system, "FEEDS", "System")
                if (graph.nodes[u].get("kind") or "") != "modality"]
    return [{"stored": len(into(graph, system, "STORED_IN")), "entries": entries,
             "several": several, "fed": bool(upstream),
             "groups": [{"others": others, "copies": copies, "items": len(items)}
                        for others, (copies, items) in sorted(groups.items())],
             "sole": sorted(sole), "later": sorted(later), "later_items": sorted(later_items),
             "gaps": sorted(gaps)}]


def _stored(graph: Graph, system: str, only: list[str] | None) -> list[str]:
    """The copies stored in a system, or those of `only` when it is a list."""
    stored = into(graph, system, "STORED_IN", "ArchiveObject")
    if only is None:
        return stored
    wanted = set(only)
    return [obj for obj in stored if obj in wanted]


def _root(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    key = params["key"]
    if key not in graph:
        return []
    attrs = dict(graph.nodes[key])
    kind = attrs.pop("label")
    return [{"id": key, "key": key, "kind": kind, "properties": {"key": key, **attrs}}]


def _step(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of, probe = params["as_of"], params["fanout_probe"]
    outs, ins = set(params["out_types"]), set(params["in_types"])
    rows = []
    for node in params["frontier"]:
        found = [(dst, kind, node, dst, attrs)
                 for dst, kind, attrs in adjacent(graph, node, outs, outgoing=True)]
        found += [(src, kind, src, node, attrs)
                  for src, kind, attrs in adjacent(graph, node, ins, outgoing=False)]
        found = [f for f in found if valid_at(f[4], as_of) and live(graph.nodes[f[0]], as_of)]
        for other, kind, src, dst, attrs in sorted(found, key=lambda f: f[:3])[:probe]:
            properties = {k: v for k, v in graph.nodes[other].items() if k != "label"}
            rows.append({"from_key": node, "src": src, "type": kind, "dst": dst,
                         "edge": dict(attrs), "id": other, "key": other,
                         "kind": graph.nodes[other]["label"],
                         "properties": {"key": other, **properties}})
    return sorted(rows, key=lambda r: (r["from_key"], r["key"], r["type"], r["src"]))


def _hub_step(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    feeds = ["FEEDS"]
    return _step(graph, {**params, "out_types": feeds if params["feeds_out"] else [],
                         "in_types": feeds if params["feeds_in"] else []})


# What `holding_facts` writes on a copy, as `holding_<name>`, for `decommission_facts` to read,
# and what the explorer's estate reads besides (`estate_facts`).
HOLDING_FACTS = ("system", "gap", "exact_from", "others", "item")
ESTATE_FACTS = ("tier", "bytes", "created_at", "disposed_at")
HOLDING_FACTS_QUERY = Query("impact/holding_facts", _holding_facts)
DECOMMISSION_FACTS = Query("impact/decommission_facts", _decommission_facts)
SOLE_COPIES = Query("impact/decommission_sole_copies", _sole_copies)
DOWNSTREAM = Query("impact/decommission_downstream", _downstream)
ACCESS = Query("impact/decommission_access", _access)
GAPS = Query("impact/decommission_gaps", _gaps)
HOLDINGS = Query("impact/decommission_holdings", _holdings)
TRACE_ROOT = Query("impact/trace_root", _root)
TRACE_STEP = Query("impact/trace_step", _step)
TRACE_HUB_STEP = Query("impact/trace_hub_step", _hub_step)
