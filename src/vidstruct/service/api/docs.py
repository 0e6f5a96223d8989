"""``/docs``: Swagger UI from the files in :mod:`vidstruct.service.docs_assets`.

FastAPI's own page loads its scripts from a CDN; this one loads only ``/docs/assets/<file>`` and
``/openapi.json`` from this server, so the API docs work on a machine without internet. No API key is needed
(the schema is public, as ``/openapi.json`` is). Swagger UI's online validator badge is off (it would call
validator.swagger.io). ``/redoc`` is not served (see :mod:`vidstruct.service.docs_assets`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import FileResponse, HTMLResponse

from vidstruct.service.docs_assets import ASSETS, ROOT
from vidstruct.service.errors import NotFoundError

router = APIRouter(include_in_schema=False)
ASSET_PREFIX = "/docs/assets"


def _url(request: Request, path: str) -> str:
    return f"{request.scope.get('root_path', '').rstrip('/')}{path}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, every file from this server."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=_url(request, app.openapi_url),
        title=f"{app.title} - API docs",
        swagger_js_url=_url(request, f"{ASSET_PREFIX}/swagger-ui-bundle.js"),
        swagger_css_url=_url(request, f"{ASSET_PREFIX}/swagger-ui.css"),
        swagger_favicon_url=_url(request, f"{ASSET_PREFIX}/favicon-32x32.png"),
        swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None},
    )


@router.get(ASSET_PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    """One of the vendored files (404 for any other name: no path is read from the request)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"no docs asset {name[:100]!r}")
    return FileResponse(ROOT / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
