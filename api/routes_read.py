"""Read endpoints: the same semantics and JSON as the CLI, with paging on every list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import models
from api.deps import Reader, StoreDep
from lineage.errors import NotFoundError
from lineage.impact import decommission, near_matches, trace
from lineage.retention import reports
from lineage.wording import quoted_key

router = APIRouter(tags=["reports"])
AsOf = Annotated[str | None, Query(
    description="A date (the end of that day) or a time (2026-11-30T14:00:00Z, any UTC offset); "
                "default now", max_length=40,
    pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$")]
Limit = Annotated[int, Query(ge=1, le=10_000, description="Items per list")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items of each list to skip")]
After = Annotated[str, Query(max_length=1024, description="Start after this key: the `next` "
                                                          "of the page before ('' first)")]


def paged(
    result: dict[str, Any], lists: tuple[str, ...], offset: int, limit: int,
    cut: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Cut each list to a page; `counts` gives full sizes, `truncated` says a page cut. `cut`:
    the lists the report read as this page already, with their full sizes."""
    cut = cut or {}
    counts = {name: cut.get(name, len(result[name])) for name in lists}
    page = {name: result[name] if name in cut else result[name][offset:offset + limit]
            for name in lists}
    return {**result, **page, "counts": counts, "offset": offset, "limit": limit,
            "truncated": any(len(page[n]) < counts[n] for n in lists)}


@router.get("/systems/{code}/decommission", response_model=models.Decommission,
            summary="Readiness to switch a system off")
def get_decommission(code: str, store: StoreDep, _: Reader, as_of: AsOf = None,
                     limit: Limit = 1000, offset: Offset = 0) -> dict[str, Any]:
    return decommission(store, code, as_of, offset=offset, limit=limit)


@router.get("/lineage/{key:path}", response_model=models.Trace,
            summary="Lineage trace of a node (breadth-first, capped)")
def get_lineage(
    key: str, store: StoreDep, _: Reader,
    direction: Annotated[str, Query(pattern="^(up|down|both)$")] = "down",
    depth: Annotated[int, Query(ge=0, le=50)] = 3, as_of: AsOf = None,
    fanout: Annotated[int, Query(ge=1, le=10_000)] = 100, limit: Limit = 1000,
) -> dict[str, Any]:
    result = trace(store, key, direction, depth, as_of, fanout=fanout,  # type: ignore[arg-type]
                   max_nodes=limit)
    return {**result, "count": len(result["nodes"])}


@router.get("/retention/drift", response_model=models.Drift,
            summary="Over-retention, premature disposal, drift, unknowns")
def get_drift(store: StoreDep, _: Reader, as_of: AsOf = None, limit: Limit = 1000,
              offset: Offset = 0, after: After = "") -> dict[str, Any]:
    report = reports.drift(store, as_of, offset=offset, limit=limit, after=after)
    return paged(report, ("over_retained", "premature_disposal", "policy_drift", "unknown"),
                 offset, limit, cut={"over_retained": report["over_retained_count"],
                                     "policy_drift": report["policy_drift_count"]})


@router.get("/retention/over-retained", response_model=models.OverRetainedPage,
            summary="The over-retained copies, a page at a time after a key (for exports)")
def get_over_retained(store: StoreDep, _: Reader, as_of: AsOf = None, limit: Limit = 1000,
                      after: After = "") -> dict[str, Any]:
    return reports.over_retained(store, as_of, after=after, limit=limit)


@router.get("/retention/cross-region", response_model=models.CrossRegion,
            summary="Cross-region conflicts and residency violations")
def get_cross_region(store: StoreDep, _: Reader, as_of: AsOf = None, limit: Limit = 1000,
                     offset: Offset = 0) -> dict[str, Any]:
    report = reports.cross_region(store, as_of, offset=offset, limit=limit)
    return paged(report, ("conflicts", "residency_violations"), offset, limit,
                 cut={name: report[f"{name}_count"]
                      for name in ("conflicts", "residency_violations")})


@router.get("/holds", response_model=models.Holds,
            summary="Active compliance events, their conflicts and restores")
def get_holds(store: StoreDep, _: Reader, as_of: AsOf = None, limit: Limit = 1000,
              offset: Offset = 0) -> dict[str, Any]:
    return paged(reports.holds(store, as_of), ("holds", "conflicts", "restore_needed"),
                 offset, limit)


@router.get("/nodes/{key:path}", response_model=models.NodeDetail,
            summary="One node with its properties and edges")
def get_node(key: str, store: StoreDep, _: Reader, limit: Limit = 1000,
             offset: Offset = 0) -> dict[str, Any]:
    try:
        node = store.get_node(key)
    except ValueError:
        node = None
    if node is None:
        hint = near_matches(store, key)
        suggested = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise NotFoundError(f"no node {quoted_key(key)}{suggested}")
    edges = store.edges(key, "both")
    return {"key": node.key, "kind": node.kind.value, "properties": node.properties,
            "edges": [{"from": e.src, "type": e.type.value, "to": e.dst,
                       "properties": e.properties} for e in edges[offset:offset + limit]],
            "count": len(edges), "offset": offset, "limit": limit}


@router.get("/stats", response_model=models.Stats,
            summary="Nodes by kind, edges by type")
def get_stats(store: StoreDep, _: Reader) -> dict[str, Any]:
    stats = store.stats()
    return {"nodes": stats.nodes, "edges": stats.edges, "conflicts": stats.conflicts,
            "unresolved": stats.unresolved}


@router.get("/catalogue", response_model=models.Catalogue,
            summary="The architects' catalogue of documented queries")
def get_catalogue(_: Reader) -> dict[str, Any]:
    from queries.catalogue import describe

    return {"queries": [{"name": name, "description": text}
                        for name, text in describe().items()]}


@router.get("/catalogue/{name}", response_model=models.Rows,
            summary="Run a catalogue query on either store (key and as_of as it needs them)")
def run_catalogue_query(
    name: str, store: StoreDep, _: Reader, key: Annotated[str | None, Query(max_length=512)] = None,
    as_of: AsOf = None, limit: Limit = 1000,
) -> dict[str, Any]:
    from queries.catalogue import CATALOGUE, run_catalogue

    if name not in CATALOGUE:
        raise NotFoundError(f"no catalogue query {name!r}; see /catalogue")
    given = {k: v for k, v in {"key": key, "as_of": as_of}.items() if v is not None}
    rows = run_catalogue(store, name, given)
    return {"columns": list(rows[0]) if rows else [], "rows": rows[:limit], "count": len(rows),
            "truncated": len(rows) > limit}
