"""Decommissioning readiness and lineage trace, over either store, from the query library.

decommission(system, as_of): for switching a system off —
  sole_copies     series and studies whose only live copies are in the system;
  must_migrate    sole copies under retention, of unknown retention, or under an active hold;
  may_dispose     sole copies past retention with no hold;
  downstream      systems and datasets that depend on it (FEEDS, COPIED_FROM, INCLUDES);
  access_profiles profiles granting on it (to revoke);
  lineage_gaps    its live copies of unknown origin;
  verdict         `blocked` while anything must be migrated or anything depends on it.
Lists are paged (`offset`, `limit`); `counts` gives their full sizes and `truncated` says
whether a page left items out. `answered_from` says how: from the copies' holding facts
(written at apply and recompute time, read from one index: `decommission_facts`) when they can
stand for a walk (every copy of the system has them, none is a copy of several items, no ingest
is between a write and its recompute, no system but a modality feeds it): then only the copies
whose item changed after `as_of`, the items that may be sole copies and the copies flagged as
gaps are walked. Else the system's copies are walked.

trace(key, direction, depth, as_of): node-unique breadth-first expansion along lineage edges,
one level per query, at most `fanout` edges followed per node and `max_nodes` nodes in all;
`truncated` says a cap cut the result. Never enumerates paths. From a system reached on the way
only FEEDS are followed (it holds copies of unrelated studies); a system as the root is
expanded fully.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from lineage.errors import NotFoundError, UserError
from lineage.model import KEY_PREFIX, NodeKind, kind_of, system_key
from lineage.retention.apply import (
    HOLDING_FACTS_META,
    HOLDING_FACTS_VERSION,
    HOLDING_PENDING_META,
    applied_policy,
)
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore
from lineage.wording import plural, quoted_key
from queries.impact import (
    ACCESS,
    DECOMMISSION_FACTS,
    DOWNSTREAM,
    GAPS,
    HOLDINGS,
    SOLE_COPIES,
    TRACE_HUB_STEP,
    TRACE_ROOT,
    TRACE_STEP,
    step_types,
)
from queries.library import Row, run_queries, run_query

Direction = Literal["up", "down", "both"]
LISTS = ("sole_copies", "must_migrate", "may_dispose", "downstream", "access_profiles",
         "lineage_gaps")


NEAR_KEY_LENGTH = 2048  # longer than any stored key can be mistyped for: no suggestions


def near_matches(store: GraphStore, key: str, limit: int = 3) -> list[str]:
    """Keys of the same kind that look like `key`, for 'did you mean'."""
    if len(key) > NEAR_KEY_LENGTH:
        return []
    try:
        kind = kind_of(key)
    except UserError:
        prefix = key.split(":", 1)[0]
        return [f"{p}:" for p in difflib.get_close_matches(prefix, KEY_PREFIX.values(), limit)]
    # Candidates are keys sharing ever shorter prefixes with `key` (a typo is most often near
    # its end): index seeks of at most NEAR_CANDIDATES keys each, until that many are found, so
    # that an unknown key costs the same in a store of millions.
    kind_prefix = len(key.partition(":")[0]) + 1
    cuts = sorted({max(kind_prefix, len(key) - drop) for drop in (1, 2, 3, 5, 8, 13)}
                  | {max(kind_prefix, len(key) // 2), kind_prefix}, reverse=True)
    candidates: set[str] = set()
    for cut in cuts:
        candidates.update(store.keys_starting(kind, key[:cut], NEAR_CANDIDATES))
        if len(candidates) >= NEAR_CANDIDATES:
            break
    return difflib.get_close_matches(key, sorted(candidates), n=limit, cutoff=0.6)


NEAR_CANDIDATES = 300


def _unknown(store: GraphStore, key: str, what: str) -> NotFoundError:
    suggestions = near_matches(store, key)
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    return NotFoundError(f"no {what} {quoted_key(key)} in {store.location}{hint}")


def decommission(
    store: GraphStore, system: str, as_of: str | None = None, *, offset: int = 0,
    limit: int | None = None, facts: bool = True,
) -> dict[str, Any]:
    """The decommission of `system` as of `as_of` (module docstring); `facts=False` walks the
    system's copies even when the holding facts would do."""
    key = system_key(system)
    if store.get_node(key) is None:
        raise _unknown(store, key, "system")
    policy = applied_policy(store)
    params: dict[str, Any] = {**as_of_params(as_of), "system": key,
                              "policy_version": policy.fingerprint if policy else "",
                              "items": None, "copies": None, "later": None}
    read = holding_facts(store, params) if facts else None
    queries = {"sole_copies": SOLE_COPIES, "downstream": DOWNSTREAM, "access_profiles": ACCESS,
               "lineage_gaps": GAPS, "holdings": HOLDINGS}
    if read is not None:  # only what the facts leave open is walked
        params |= {"items": read["items"], "copies": read["gaps"], "later": read["later"]}
        if not read["later"]:
            del queries["holdings"]
    # Each may walk the system's copies: on a server they run at once (`run_queries`).
    found = run_queries(store, queries, params)
    sole = found["sole_copies"]
    must, may = classify(sole, params["as_of_date"])
    lists: dict[str, list[Row]] = {
        "sole_copies": sole, "must_migrate": must, "may_dispose": may,
        "downstream": found["downstream"], "access_profiles": found["access_profiles"],
        "lineage_gaps": found["lineage_gaps"],
    }
    reasons = []
    if must:
        reasons.append(f"{plural(len(must), 'sole copy', 'sole copies')} must be migrated first")
    if lists["downstream"]:
        count = len(lists["downstream"])
        reasons.append(f"{plural(count, 'system or dataset', 'systems or datasets')} "
                       f"{'depends' if count == 1 else 'depend'} on it")
    end = None if limit is None else offset + limit
    result: dict[str, Any] = {
        "system": key, "as_of": params["as_of_shown"],
        "verdict": "blocked" if reasons else "ready", "reasons": reasons,
        "policy_version": params["policy_version"] or None,
        "counts": {name: len(rows) for name, rows in lists.items()},
        "offset": offset, "limit": limit,
        "truncated": any(len(rows) > len(rows[offset:end]) for rows in lists.values()),
    }
    result |= {name: rows[offset:end] for name, rows in lists.items()}
    result["holdings"] = added([*found.get("holdings", []),
                                *([read["holdings"]] if read is not None else [])])
    result["answered_from"] = "copies" if read is None else "holding facts"
    result["warnings"] = store.index_warnings()
    return result


def added(holdings: list[Row]) -> Row:
    """Holdings of disjoint sets of items, added up (no row: nothing held)."""
    elsewhere: dict[str, int] = {}
    for part in holdings:
        for other in part["elsewhere"]:
            elsewhere[other["system"]] = elsewhere.get(other["system"], 0) + other["items"]
    return {"copies": sum(part["copies"] for part in holdings),
            "items": sum(part["items"] for part in holdings),
            "elsewhere": [{"system": other, "items": items}
                          for other, items in sorted(elsewhere.items()) if items]}


def holding_facts(store: GraphStore, params: dict[str, Any]) -> dict[str, Any] | None:
    """What the holding facts of the system's copies say (query `decommission_facts`) when they
    can stand for a walk of its copies: the holdings of the copies whose facts hold at
    `params["as_of"]`, the copies whose facts do not (`later`, to walk), the items that may be
    sole copies and the copies flagged as gaps (to test). None when the copies must be walked."""
    if (store.get_meta(HOLDING_FACTS_META) != HOLDING_FACTS_VERSION
            or int(store.get_meta(HOLDING_PENDING_META) or 0) > 0):
        return None
    rows = run_query(store, DECOMMISSION_FACTS, {"system": params["system"],
                                                 "as_of": params["as_of"]})
    if not rows:
        return None
    row = rows[0]
    if (row["entries"] != row["stored"] or row["several"] or row["fed"]
            or len(row["later"]) * 2 > row["entries"]):  # mostly later: walking is cheaper
        return None
    live = [group for group in row["groups"] if group["others"] != "-"]
    holdings = added([{"copies": group["copies"], "items": group["items"],
                       "elsewhere": [{"system": other, "items": group["items"]}
                                     for other in group["others"].split("\t") if other]}
                      for group in live])
    return {"holdings": holdings, "later": row["later"], "gaps": row["gaps"],
            "items": sorted({*row["sole"], *row["later_items"]})}


def classify(sole: list[Row], as_of_date: str) -> tuple[list[Row], list[Row]]:
    """Split sole copies into must-migrate (with the reason) and may-dispose."""
    must, may = [], []
    for row in sole:
        item = {"key": row["key"], "copies": row["copies"], "retain_until": row["retain_until"],
                "holds": row["holds"]}
        if row["holds"]:
            must.append(item | {"reason": "under legal hold " + ", ".join(row["holds"])})
        elif row["retention_unknown"]:
            must.append(item | {"reason": "retention unknown"})
        elif row["retain_until"] is None or row["retain_until"] >= as_of_date:
            must.append(item | {"reason": f"retained until {row['retain_until']}"})
        else:
            may.append(item)
    return must, may


def trace(
    store: GraphStore, key: str, direction: Direction = "down", depth: int = 3,
    as_of: str | None = None, *, fanout: int = 100, max_nodes: int = 1000,
) -> dict[str, Any]:
    if direction not in ("up", "down", "both"):
        raise UserError(f"direction must be up, down or both, not {direction!r}")
    if not 0 <= depth <= 50:
        raise UserError(f"depth must be between 0 and 50, not {depth}")
    params: dict[str, Any] = {**as_of_params(as_of), **step_types(direction),
                              "fanout_probe": fanout + 1}
    roots = run_query(store, TRACE_ROOT, {"key": key}) if _valid_key(key) else []
    if not roots:
        raise _unknown(store, key, "node")
    found: dict[str, Row] = {key: roots[0]}
    edges: dict[tuple[str, str, str], Row] = {}
    frontier, truncated = [roots[0]["id"]], False
    hubs: list[str] = []  # systems reached on the way: only their FEEDS are followed
    feeds = {name: "FEEDS" in types for name, types in step_types(direction).items()}
    hub_params = params | {"feeds_out": feeds["out_types"], "feeds_in": feeds["in_types"]}
    for _ in range(depth):
        if not frontier and not hubs:
            break
        rows = run_query(store, TRACE_STEP, params | {"frontier": frontier}) if frontier else []
        if hubs:
            rows += run_query(store, TRACE_HUB_STEP, hub_params | {"frontier": hubs})
            rows.sort(key=lambda r: (r["from_key"], r["key"], r["type"], r["src"]))
        frontier, hubs = [], []
        per_node: dict[str, int] = {}
        for row in rows:
            per_node[row["from_key"]] = per_node.get(row["from_key"], 0) + 1
            if per_node[row["from_key"]] > fanout:
                truncated = True
                continue
            if row["key"] not in found:
                if len(found) >= max_nodes:
                    truncated = True
                    continue
                found[row["key"]] = row
                # a system is a hub: the copies it holds are other studies' lineage
                (hubs if row["kind"] == "System" else frontier).append(row["id"])
            edges[(row["src"], row["type"], row["dst"])] = row["edge"]
    return {
        "root": key, "direction": direction, "depth": depth, "as_of": params["as_of_shown"],
        "nodes": [{"key": k, "kind": r["kind"], "properties": _public(r["properties"])}
                  for k, r in sorted(found.items())],
        "edges": [{"from": s, "type": t, "to": d, "properties": dict(p)}
                  for (s, t, d), p in sorted(edges.items()) if s in found and d in found],
        "truncated": truncated,
    }


def _valid_key(key: str) -> bool:
    try:
        return isinstance(kind_of(key), NodeKind)
    except UserError:
        return False


def _public(properties: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in sorted(properties.items()) if name != "key"}
