"""The estate at a glance (the web explorer's first page, `GET /estate`): every system with its
live copies, their bytes and storage tiers, and the systems it feeds.

Summing a system's copies means reading each of them (query `estate_systems`): at a million
studies that is ~8 M copies read from a store larger than memory. `retention apply` writes on
every copy, with its holding facts, its tier, bytes, creation and disposal
(`queries.impact.ESTATE_FACTS`), and the recompute after each ingest rewrites them on the
copies it moved; query `estate_facts` sums those per system, at any moment, from one index
without visiting the copies. A system's row comes from the facts only when they stand for the
walk: a whole apply wrote them (meta `estate_facts`), no ingest is between its write and its
recompute (the holding facts' pending count), and every copy stored in the system has facts
naming it (none is stored in several systems). Any other system is walked, alone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from lineage.retention.apply import ESTATE_FACTS_META, ESTATE_FACTS_VERSION, HOLDING_PENDING_META
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore
from queries.explore import ESTATE_FACTS_QUERY, ESTATE_SYSTEMS
from queries.library import Row, run_query

FACTS, WALK = "holding facts", "copies"
# What `estate_facts` adds to an `estate_systems` row to decide whether it stands.
_DECIDING = ("stored", "entries")


def estate_overview(store: GraphStore, as_of: date | str | None = None, *,
                    facts: bool = True) -> dict[str, Any]:
    """Every system's row as of `as_of` (module docstring), by key; `answered_from` says how
    (FACTS, WALK, or both when some systems had to be walked), `warnings` names the store's
    indexes not ONLINE (the answer is right, read by scans). `facts=False` walks them all."""
    params: dict[str, Any] = {**as_of_params(as_of), "systems": None}
    rows = _from_facts(store, params) if facts else []
    walk = [row["key"] for row in rows if not _stands(row)]
    if not rows:  # no facts to read: every system is walked
        rows = run_query(store, ESTATE_SYSTEMS, params)
        how = WALK
    elif walk:
        walked = {row["key"]: row for row in run_query(store, ESTATE_SYSTEMS,
                                                        {**params, "systems": walk})}
        rows = [walked.get(row["key"], row) for row in rows]
        how = WALK if len(walk) == len(rows) else f"{FACTS} and {WALK}"
    else:
        how = FACTS
    systems = [{name: value for name, value in row.items() if name not in _DECIDING}
               for row in rows]
    return {"as_of": params["as_of_shown"], "systems": systems, "count": len(systems),
            "answered_from": how, "warnings": store.index_warnings()}


def _from_facts(store: GraphStore, params: dict[str, Any]) -> list[Row]:
    if (store.get_meta(ESTATE_FACTS_META) != ESTATE_FACTS_VERSION
            or int(store.get_meta(HOLDING_PENDING_META) or 0) > 0):
        return []
    return run_query(store, ESTATE_FACTS_QUERY, params)


def _stands(row: Row) -> bool:
    return bool(row["entries"] == row["stored"])
