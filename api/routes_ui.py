"""The web explorer (`/ui`) and the API's own documentation (`/docs`), both served from files
inside the package: no page loads anything from another host, so both work on a hospital
network without internet. `/session` tells the explorer what the caller's token may read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import models
from api.deps import allow
from api.security import AUDITORS, CYPHER, INGESTERS, READERS, Principal, Role

WEB = Path(str(resources.files("lineage").joinpath("web")))
# The explorer talks to this server alone; inline styles are its bar charts' widths.
UI_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'")

router = APIRouter(tags=["explorer"])
Anyone = Annotated[Principal, Depends(allow(frozenset(Role)))]


@router.get("/session", response_model=models.Session,
            summary="Who the token is and what its role may do (for the explorer)")
def get_session(principal: Anyone) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role.value,
            "may_read": principal.role in READERS, "may_export": principal.role in AUDITORS,
            "may_ingest": principal.role in INGESTERS, "may_query": principal.role in CYPHER}


def mount(app: FastAPI) -> None:
    """`/ui` (the explorer), its files, and `/docs` (Swagger UI from the package)."""
    app.mount("/ui/static", StaticFiles(directory=WEB / "static"), name="ui-static")
    app.mount("/ui/vendor", StaticFiles(directory=WEB / "vendor"), name="ui-vendor")

    @app.get("/ui", include_in_schema=False)
    def explorer() -> FileResponse:
        return FileResponse(WEB / "static" / "index.html",
                            headers={"Content-Security-Policy": UI_POLICY,
                                     "Cache-Control": "no-store"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Image lineage API",
            swagger_js_url="/ui/vendor/swagger-ui-bundle.js",
            swagger_css_url="/ui/vendor/swagger-ui.css", swagger_favicon_url="data:,",
            # no validator badge: Swagger UI would send the schema to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})
