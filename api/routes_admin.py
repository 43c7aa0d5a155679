"""Architects' Cypher, auditor exports, and the audit log."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api import models
from api.deps import Architect, Auditor, StateDep, StoreDep
from lineage.errors import UserError
from lineage.export import FORMATS, SCOPE_MAX_NODES, export
from lineage.stores import Neo4jStore

router = APIRouter(tags=["architects and auditors"])
MEDIA = {"graphml": "application/graphml+xml", "node-link": "application/json",
         "prov-json": "application/json", "html": "text/html; charset=utf-8"}


class CypherRequest(BaseModel):
    query: str = Field(min_length=1, max_length=100_000, description="Read-only Cypher")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=30, gt=0, le=300, description="Seconds")
    max_rows: int = Field(default=1000, ge=1, le=100_000)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=50 * 1024 * 1024,
                           description="JSON bytes of rows at most; a larger row is refused")


@router.post("/cypher", response_model=models.Rows,
             summary="Read-only Cypher on the Neo4j store: planned first, refused "
             "unless it only reads the graph; timeout, row and byte caps")
def post_cypher(body: CypherRequest, request: Request, store: StoreDep,
                _: Architect) -> dict[str, Any]:
    request.state.audit_detail = {"cypher": body.query}  # what was asked, for the auditors
    if not isinstance(store, Neo4jStore):
        raise UserError("Cypher runs on a Neo4j store; this API serves a local store")
    columns, rows, truncated = store.run_user_query(body.query, body.params, body.timeout,
                                                    body.max_rows, body.max_bytes)
    return {"columns": columns, "rows": rows, "count": len(rows), "truncated": truncated}


@router.get("/export", summary="An auditor export, streamed; its manifest in X-Export-Manifest")
def get_export(
    store: StoreDep, _: Auditor,
    format: Annotated[str, Query(pattern="^(graphml|node-link|prov-json|html)$")] = "graphml",
    scope: str | None = None, depth: Annotated[int, Query(ge=0, le=50)] = 3,
    max_nodes: Annotated[int, Query(ge=1, le=10 * SCOPE_MAX_NODES)] = SCOPE_MAX_NODES,
) -> StreamingResponse:
    if format not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}")
    folder = Path(tempfile.mkdtemp(prefix="lineage-export-"))
    path = folder / f"export.{format.replace('-json', '.json')}"
    try:
        manifest = export(store, format, path, scope, depth, max_nodes=max_nodes)
        handle = path.open("rb")
    finally:  # the open handle keeps the data; nothing is left on disk, even if the client goes
        shutil.rmtree(folder, ignore_errors=True)

    def chunks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(65536):
                yield block

    return StreamingResponse(chunks(), media_type=MEDIA[format], headers={
        "X-Export-Manifest": json.dumps(manifest, separators=(",", ":")),
        "Content-Disposition": f'attachment; filename="{path.name}"'})


@router.get("/audit", response_model=models.AuditPage,
            summary="The audit log of every request (auditors)")
def get_audit(state: StateDep, _: Auditor,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
              offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    entries, total = state.audit.entries(offset, limit)
    return {"data": entries, "count": total, "offset": offset, "limit": limit}
