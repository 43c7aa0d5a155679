"""The HTTP API: `create_app(settings)` builds settings, tokens, audit log and store at start-up
(never at import), the routers, one error mapping and the request audit.

Errors, in one place and one shape, RFC 9457 problem details (`application/problem+json`:
`type`, `title`, `status`, `detail`, and `errors` naming the fields for 422): a user's mistake 400
(unknown key 404, validation 422), a missing or wrong token 401, a role that may not 403, a body
too large 413, the store unreachable 503, a source unreachable 502, an unknown route 404 or method
405; anything else 500 with no stack trace in the body. No error repeats a request's values.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import routes_admin, routes_explore, routes_ingest, routes_read, routes_ui
from api.models import Health, Problem
from api.security import PLACEHOLDER_TOKEN, AuditLog, TokenBook
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
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": HTTPStatus(status).phrase,
             "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 413, 422, 500, 502, 503)}


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
        log.warning("%s", startup_line(settings, book, audit.path))
        try:
            yield
        finally:
            if store is None:
                opened.close()

    app = FastAPI(
        title="Image lineage API", version=__version__, lifespan=lifespan, docs_url=None,
        redoc_url=None,
        description="Impact analysis, retention and compliance reports, lineage traces and "
                    "ingestion over the lineage graph of medical images. Bearer tokens map to "
                    "roles: ingest, architect, auditor, admin.")
    _errors(app)
    _middleware(app)

    @app.get("/health", response_model=Health, summary="Liveness: no token needed",
             tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for router in (routes_read.router, routes_explore.router, routes_ingest.router,
                   routes_admin.router, routes_ui.router):
        app.include_router(router, responses=PROBLEMS)
    routes_ui.mount(app)
    return app


PROBLEM_TYPE = "urn:image-lineage:problem:"


def _error(status: int, kind: str, message: str, errors: list[dict[str, str]] | None = None,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem details answer."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + kind, "title": HTTPStatus(status).phrase,
                            "status": status, "detail": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}),
                        media_type="application/problem+json")


HTTP_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "too_large"}


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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return _error(exc.status_code, HTTP_KINDS.get(exc.status_code, "http_error"), detail,
                      headers=exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # where and what, never the value given (it may be a patient's data)
        errors = [{"field": ".".join(str(part) for part in error.get("loc", ())),
                   "message": str(error.get("msg", "invalid"))} for error in exc.errors()]
        return _error(422, "validation", "the request is not valid: " + "; ".join(
            f"{e['field']}: {e['message']}" for e in errors), errors=errors)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the kind and the frames, not the message: it may quote a request's patient data
        log.error("unexpected error on %s %s: %s\n%s", request.method, request.url.path,
                  type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
        return _error(500, "internal_error", "the server failed; the error is logged")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def startup_line(settings: Settings, tokens: TokenBook, audit: Path) -> str:
    """What the server runs as: its mode (and the development token when that is how one gets
    in), its store and where the audit log goes."""
    mode = (f"{settings.environment} mode" + (
        f", development token {PLACEHOLDER_TOKEN!r} is an admin (set LINEAGE_API_TOKENS)"
        if tokens.principal(PLACEHOLDER_TOKEN) else ""))
    return f"image-lineage API {__version__}: {mode}; store {settings.store}; audit log {audit}"


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


UNAUDITED = frozenset({"/openapi.json", "/docs", "/health", "/ui"})


def _audit(state: ApiState | None, request: Request, status: int, size: int,
           started: float) -> None:
    """One audit line for a request, whatever its status."""
    path = request.url.path
    if state is None or path in UNAUDITED or path.startswith(("/ui/static/", "/ui/vendor/")):
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

