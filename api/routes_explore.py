"""What the web explorer reads besides the reports: the estate's systems, finding a node, the
metadata conflicts. Reads only, for every reading role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import models
from api.deps import Reader, StoreDep
from api.routes_read import AsOf, Limit, Offset
from lineage.estate_overview import estate_overview
from queries.explore import FIND_NODES
from queries.library import run_query

router = APIRouter(tags=["explorer"])


@router.get("/estate", response_model=models.Estate,
            summary="Every system: kind, region, live copies, bytes, tiers, the systems it feeds")
def get_estate(store: StoreDep, _: Reader, as_of: AsOf = None) -> dict[str, Any]:
    return estate_overview(store, as_of)


@router.get("/search", response_model=models.SearchResult,
            summary="Nodes by key, accession, system code or dataset name")
def search(store: StoreDep, _: Reader,
           q: Annotated[str, Query(min_length=2, max_length=200)],
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    text = q.strip().lower()
    found = run_query(store, FIND_NODES, {"text": text, "limit": limit})
    return {"query": q, "results": [{**row, "kind": row["key"].partition(":")[0]}
                                    for row in found]}


@router.get("/conflicts", response_model=models.Conflicts,
            summary="Metadata conflicts: properties two sources report differently")
def get_conflicts(store: StoreDep, _: Reader, limit: Limit = 1000,
                  offset: Offset = 0) -> dict[str, Any]:
    found = [c.as_dict() for c in store.conflicts()]
    return {"conflicts": found[offset:offset + limit], "count": len(found), "offset": offset,
            "limit": limit}
