"""The HTTP API: `create_app(settings)` builds settings, tokens, audit log and store at start-up
(never at import), the routers, one error mapping and the request audit.

Errors, in one place: a user's mistake 400 (unknown key 404, validation 422 naming the field), a
missing or wrong token 401, a role that may not 403, a body too large 413, the store unreachable
503, a source unreachable 502; anything else 500 with no stack trace in the body.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api import routes_admin, routes_ingest, routes_read
from api.security import AuditLog, TokenBook
from api.state import ApiState
from lineage import __version__
from lineage.errors import (
    BatchRejectedError,
    LineageError,
    NotFoundError,
    SourceUnavailableError,
    StoreUnavailableError,
    TooLargeError,
    UserError,
)
from lineage.settings import Settings, load_settings
from lineage.stores import GraphStore, make_store

log = logging.getLogger("lineage.api")
DEFAULT_MAX_BODY = 20 * 1024 * 1024


def create_app(
    settings: Settings | None = None, *, store: GraphStore | None = None,
    tokens: TokenBook | None = None, audit_path: Path | None = None,
    work_dir: Path | None = None, max_body: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The app; the store is opened in the lifespan (or given, e.g. by tests)."""
    settings = settings or load_settings()
    development = settings.environment == "development"
    book = tokens or TokenBook.from_environment(development)
    settings.pseudonym_secret()  # a placeholder key refuses to start outside development
    folder = work_dir or Path(".")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or make_store(settings.store, auth=settings.neo4j_auth(),
                                     database=settings.neo4j_database)
        opened.open()
        audit = AuditLog(audit_path or settings.audit_log, settings.audit_max_bytes,
                         settings.audit_backups)
        app.state.lineage = ApiState(settings, opened, book, audit, folder, max_body)
        try:
            yield
        finally:
            if store is None:
                opened.close()

    app = FastAPI(
        title="Image lineage API", version=__version__, lifespan=lifespan,
        description="Impact analysis, retention and compliance reports, lineage traces and "
                    "ingestion over the lineage graph of medical images. Bearer tokens map to "
                    "roles: ingest, architect, auditor, admin.")
    _errors(app)
    _middleware(app)

    @app.get("/health", summary="Liveness: no token needed", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(routes_read.router)
    app.include_router(routes_ingest.router)
    app.include_router(routes_admin.router)
    return app


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": kind, "detail": message})


def _errors(app: FastAPI) -> None:
    mapping: list[tuple[type[Exception], int, str]] = [
        (NotFoundError, 404, "not_found"), (BatchRejectedError, 422, "rejected"),
        (TooLargeError, 413, "too_large"),
        (UserError, 400, "bad_request"), (StoreUnavailableError, 503, "store_unavailable"),
        (SourceUnavailableError, 502, "source_unavailable"), (LineageError, 500, "error"),
    ]
    for kind, status, name in mapping:
        def handler(request: Request, exc: Exception, status: int = status,
                    name: str = name) -> JSONResponse:
            return _error(status, name, " ".join(str(exc).split()))
        app.add_exception_handler(kind, handler)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the kind and the frames, not the message: it may quote a request's patient data
        log.error("unexpected error on %s %s: %s\n%s", request.method, request.url.path,
                  type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
        return _error(500, "internal_error", "the server failed; the error is logged")

    app.add_exception_handler(Exception, unexpected)


def _middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def limit_and_audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        state: ApiState | None = getattr(request.app.state, "lineage", None)
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if state is not None and length and length.isdigit() and int(length) > state.max_body:
            response: Response = _error(413, "too_large",
                                        f"the body is over {state.max_body} bytes")
        else:
            try:
                response = await call_next(request)
            except Exception:  # audited as the 500 it becomes, then handled as one
                _audit(state, request, 500, 0, started)
                raise
        _audit(state, request, response.status_code,
               int(response.headers.get("content-length", 0) or 0), started)
        return response


UNAUDITED = frozenset({"/openapi.json", "/docs", "/health"})


def _audit(state: ApiState | None, request: Request, status: int, size: int,
           started: float) -> None:
    """One audit line for a request, whatever its status."""
    if state is None or request.url.path in UNAUDITED:
        return
    principal = getattr(request.state, "principal", None)
    state.audit.append({
        "who": principal.name if principal else None,
        "role": principal.role.value if principal else None,
        "method": request.method, "endpoint": request.url.path,
        "parameters": dict(request.query_params), "status": status, "result_bytes": size,
        "seconds": round(time.perf_counter() - started, 4),
        **getattr(request.state, "audit_detail", {}),
    })

