"""The retention, residency and legal-hold reports, from the query library's rows.

Every report is as of a moment (the end of a day given, a time given, or now), and uses the
policy last applied to the store (its version, residency map and tier prices), so that it
agrees with the stored retention dates.
On a store where no policy was ever applied, every report says so (`policy_applied: false` and
a warning naming the command to run): empty sections there mean "not computed", never
"compliant". The same when a policy was applied but live copies were written after it and never
recomputed (an interrupted ingest): `uncomputed_copies` counts them, and a warning says so.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from lineage.errors import UserError
from lineage.retention.apply import STUDY_FACTS_META, STUDY_FACTS_VERSION, applied_policy
from lineage.retention.policy import Policy
from lineage.stores import GraphStore
from lineage.timefmt import as_of_moment
from queries.library import Query, Row, run_queries, run_query
from queries.retention import (
    CROSS_REGION_CONFLICTS,
    DRIFT_OVER_RETAINED,
    DRIFT_OVER_RETAINED_BY_KEY,
    DRIFT_OVER_RETAINED_TALLIED,
    DRIFT_OVER_RETAINED_TOTALS,
    DRIFT_POLICY,
    DRIFT_PREMATURE,
    DRIFT_UNKNOWN,
    HOLDS_ACTIVE,
    HOLDS_CONFLICTS,
    HOLDS_RESTORE_NEEDED,
    RESIDENCY_VIOLATIONS,
)

ARCHIVE_TIERS = ["archive", "glacier", "deep_archive", "offline", "cold", "nearline_archive"]
GB = 1024**3


def as_of_params(as_of: date | str | None) -> dict[str, str]:
    """`as_of` (a stored timestamp: the end of the day given, the time given, or now) and
    `as_of_date`; `as_of_shown` is what reports print (the date, or the time when one was given).
    """
    try:
        moment, day = as_of_moment(as_of)
    except ValueError as error:
        raise UserError(f"--as-of {error}") from None
    shown = moment if isinstance(as_of, str) and len(as_of.strip()) > 10 else day
    return {"as_of": moment, "as_of_date": day, "as_of_shown": shown}


def _params(store: GraphStore, as_of: date | str | None) -> tuple[dict[str, Any], Policy | None]:
    policy = applied_policy(store)
    params: dict[str, Any] = as_of_params(as_of)
    params["policy_version"] = policy.fingerprint if policy else ""
    params["allowed"] = policy.allowed_countries() if policy else {}
    params["archive_tiers"] = ARCHIVE_TIERS
    return params, policy


NOT_COMPUTED = ("retention not computed", "computed under another policy version")
NO_POLICY = ("no retention policy was ever applied to this store: retention is not computed, "
             "so empty sections do not mean compliant; run `lineage retention apply`")


def uncomputed_warning(copies: int) -> str:
    return (f"{copies:,} live {'copy has' if copies == 1 else 'copies have'} no retention "
            "computed under the policy applied last (written after it was applied and never "
            "recomputed, e.g. by an interrupted ingest), so the report leaves "
            f"{'it' if copies == 1 else 'them'} out; run `lineage retention apply`")


STALE_FACTS = ("the policy was applied by an engine that did not keep the per-study facts "
               "and per-copy tallies drift and cross-region read, so those sections may miss "
               "studies and a page of drift reads every over-retained copy; run "
               "`lineage retention apply` once")


def policy_state(store: GraphStore, policy: Policy | None, uncomputed: int,
                 facts_current: bool = True) -> dict[str, Any]:
    """`policy_applied`, `uncomputed_copies` and the `warnings` every report carries (the
    store's indexes that are not ONLINE among them: the report was slower, not wrong)."""
    indexes = store.index_warnings()
    if policy is None:
        return {"policy_applied": False, "uncomputed_copies": None,
                "warnings": [NO_POLICY, *indexes]}
    warnings = [uncomputed_warning(uncomputed)] if uncomputed else []
    if not facts_current:
        warnings.append(STALE_FACTS)
    warnings += indexes
    return {"policy_applied": True, "uncomputed_copies": uncomputed,
            "study_facts_current": facts_current, "warnings": warnings}


def _facts_current(store: GraphStore) -> bool:
    return store.get_meta(STUDY_FACTS_META) == STUDY_FACTS_VERSION


def _with_uncomputed(store: GraphStore, policy: Policy | None, queries: dict[str, Query],
                     params: dict[str, Any]) -> tuple[dict[str, list[Row]], int]:
    """The report's rows, and the count of live copies without retention under the applied
    policy, read beside them (at once on Neo4j)."""
    if policy is None:
        return run_queries(store, queries, params), 0
    found = run_queries(store, {**queries, "unknown": DRIFT_UNKNOWN}, params)
    return found, _uncomputed(found.pop("unknown"))


def _uncomputed(unknown: list[Row]) -> int:
    """The uncomputed copies are among the unknown ones, named by these two reasons."""
    return sum(1 for row in unknown if row["reason"] in NOT_COMPUTED)


def needs_apply(report: dict[str, Any]) -> bool:
    """A report whose answer is incomplete until `lineage retention apply` runs."""
    return (not report.get("policy_applied", True) or bool(report.get("uncomputed_copies"))
            or not report.get("study_facts_current", True))


ALL_ROWS = 2**62  # a limit that never cuts


def drift(store: GraphStore, as_of: date | str | None = None, offset: int = 0,
          limit: int | None = None, after: str = "") -> dict[str, Any]:
    """The drift report; `over_retained` and `policy_drift` are the page `offset`, `limit`
    (default all) of the over-retained copies and the drifting studies in key order,
    `over_retained_count` and `policy_drift_count` how many there are in all, and `cost` is over
    all the over-retained copies: summed by the store for a page, from the rows when all are
    read. `after` starts the over-retained copies after that key (the `over_retained_next` of
    the page before: see `over_retained`)."""
    params, policy = _params(store, as_of)
    whole = offset == 0 and limit is None and not after
    params |= {"offset": offset, "limit": ALL_ROWS if limit is None else limit, "after": after,
               "scan": min(SCAN_PER_ROW * (offset + (limit or 0)), SCAN_MOST)}
    queries = {"over_retained": DRIFT_OVER_RETAINED, "premature_disposal": DRIFT_PREMATURE,
               "policy_drift": DRIFT_POLICY, "unknown": DRIFT_UNKNOWN}
    tallied = _facts_current(store)
    if not whole:
        queries["over_retained"] = _page_query(tallied)
        if tallied:
            queries["over_retained_totals"] = DRIFT_OVER_RETAINED_TOTALS
    found = run_queries(store, queries, params)
    if not whole:
        found["over_retained"] = _over_retained_page(store, found["over_retained"], params,
                                                     tallied)
        if not tallied:  # no tallies to sum (an older engine's apply): every copy is read
            found["over_retained_totals"] = run_query(store, DRIFT_OVER_RETAINED, params | {
                "after": "", "offset": 0, "limit": ALL_ROWS})
    uncomputed = _uncomputed(found["unknown"])
    totals = found["over_retained"] if whole else found.pop("over_retained_totals")
    return {"as_of": params["as_of_shown"], "policy_version": params["policy_version"] or None,
            **policy_state(store, policy, uncomputed, tallied), **found,
            **_paged_section(found, "policy_drift", "studies"),
            "over_retained_count": sum(row.get("copies", 1) for row in totals),
            "over_retained_next": _next(found["over_retained"], limit),
            "cost": cost(totals, policy)}


def over_retained(store: GraphStore, as_of: date | str | None = None, after: str = "",
                  limit: int = 1000) -> dict[str, Any]:
    """A page of the over-retained copies alone, in key order, after the key `after` (`''`:
    from the first): what an export pages through. Each page reads the copies of its page
    (in key order from `after`), however deep it is, and none of the rest of the drift report;
    `next` is the `after` of the following page, None after the last. Ask every page as of the
    same moment. The live copies without retention (`uncomputed_copies`, a whole-store count)
    are counted on the first page only (None on the others)."""
    params, policy = _params(store, as_of)
    params |= {"after": after, "offset": 0, "limit": limit,
               "scan": min(SCAN_PER_ROW * limit, SCAN_MOST)}
    tallied = _facts_current(store)
    queries = {"copies": _page_query(tallied)}
    if after:
        found, uncomputed = run_queries(store, queries, params), None
    else:
        found, uncomputed = _with_uncomputed(store, policy, queries, params)
    copies = _over_retained_page(store, found["copies"], params, tallied)
    state = policy_state(store, policy, uncomputed or 0, tallied)
    if policy is not None:
        state["uncomputed_copies"] = uncomputed
    return {"as_of": params["as_of_shown"], "policy_version": params["policy_version"] or None,
            **state, "after": after, "limit": limit, "copies": copies,
            "next": _next(copies, limit)}


def _next(page: list[Row], limit: int | None) -> str | None:
    """The key a following page starts after: the last row's key when the page is full."""
    return page[-1]["key"] if page and limit is not None and len(page) == limit else None


# A page of over-retained copies is read from the copies' tallies in key order (an index of
# them, entries from the page's start to its end; `drift_over_retained_tallied`). On a store
# whose tallies are not current (applied by an older engine), it is first looked for among
# the copies in key order, at most SCAN_PER_ROW for each row up to the page's end and SCAN_MOST
# in all: found there when over-retained copies are common (~1 in 4 in the scale estates), at
# the cost of reading a few thousand copies where seeking every copy past its date reads them
# all. Else it is sought.
SCAN_PER_ROW, SCAN_MOST = 20, 200_000


def _page_query(tallied: bool) -> Query:
    return DRIFT_OVER_RETAINED_TALLIED if tallied else DRIFT_OVER_RETAINED_BY_KEY


def _over_retained_page(store: GraphStore, found: list[Row], params: dict[str, Any],
                        tallied: bool) -> list[Row]:
    """The page from the rows of `_page_query(tallied)`: those of `drift_over_retained_tallied`,
    or `drift_over_retained_by_key`'s one row when it is sure (the page is full, or the scan
    read every copy), else from `drift_over_retained`."""
    return found if tallied else _scanned_page(store, found, params)


def _scanned_page(store: GraphStore, by_key: list[Row], params: dict[str, Any]) -> list[Row]:
    [found] = by_key
    if len(found["copies"]) == params["limit"] or found["scanned"] < params["scan"]:
        return list(found["copies"])
    return run_query(store, DRIFT_OVER_RETAINED, params)


def _paged_section(found: dict[str, list[Row]], name: str, listed: str) -> dict[str, Any]:
    """A section the store pages (one row: its `count` in all and the page as `listed`), as
    the report gives it: the page under `name`, the count under `<name>_count`."""
    row = found[name][0]
    return {name: row[listed], f"{name}_count": row["count"]}


def cost(totals: list[Row], policy: Policy | None) -> dict[str, Any]:
    """Bytes of over-retained copies by system, region and tier, and their monthly price, from
    `drift_over_retained_totals` rows or `drift_over_retained` rows (a copy each)."""
    prices = policy.tier_prices if policy else {}
    by: dict[str, dict[str, int]] = {"system": defaultdict(int), "region": defaultdict(int),
                                     "storage_tier": defaultdict(int)}
    monthly, unpriced = 0.0, 0
    for row in totals:
        size = int(row.get("bytes") or 0)
        for dimension, sums in by.items():
            sums[str(row.get(dimension) or "unknown")] += size
        tier = str(row.get("storage_tier") or "")
        if tier in prices:
            monthly += size / GB * prices[tier]
        elif size:
            unpriced += size
    return {
        "bytes": sum(int(r.get("bytes") or 0) for r in totals),
        "by_system": dict(sorted(by["system"].items())),
        "by_region": dict(sorted(by["region"].items())),
        "by_storage_tier": dict(sorted(by["storage_tier"].items())),
        "monthly_cost": round(monthly, 2),
        "currency": policy.currency if policy else None,
        "unpriced_bytes": unpriced,
    }


def cross_region(store: GraphStore, as_of: date | str | None = None, offset: int = 0,
                 limit: int | None = None) -> dict[str, Any]:
    """The cross-region report: `conflicts` (studies, in key order) and `residency_violations`
    (copies, by study then key), each the page `offset`, `limit` (default all), with their
    counts in all as `conflicts_count` and `residency_violations_count`."""
    params, policy = _params(store, as_of)
    params |= {"offset": offset, "limit": ALL_ROWS if limit is None else limit}
    found, uncomputed = _with_uncomputed(store, policy, {
        "conflicts": CROSS_REGION_CONFLICTS, "residency_violations": RESIDENCY_VIOLATIONS},
        params)
    return {"as_of": params["as_of_shown"],
            **policy_state(store, policy, uncomputed, _facts_current(store)),
            **_paged_section(found, "conflicts", "studies"),
            **_paged_section(found, "residency_violations", "copies")}


def holds(store: GraphStore, as_of: date | str | None = None) -> dict[str, Any]:
    params, policy = _params(store, as_of)
    found, uncomputed = _with_uncomputed(store, policy, {
        "holds": HOLDS_ACTIVE, "conflicts": HOLDS_CONFLICTS,
        "restore_needed": HOLDS_RESTORE_NEEDED}, params)
    return {"as_of": params["as_of_shown"], **policy_state(store, policy, uncomputed), **found}
