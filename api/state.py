"""What the API's routes share, built once at start-up by `api.app.create_app`: settings, the
store, tokens, the audit log. Routes reach it through `api.deps`; this module imports neither."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from api.security import AuditLog, TokenBook
from lineage.settings import Settings
from lineage.stores import GraphStore


@dataclass
class ApiState:
    settings: Settings
    store: GraphStore
    tokens: TokenBook
    audit: AuditLog
    work_dir: Path
    max_body: int


def lineage_state(request: Request) -> ApiState:
    return request.app.state.lineage  # type: ignore[no-any-return]
