"""The web pages: ``GET /`` (the app's index.html), its static files under ``/ui/static/``, and the sign-in
session under ``/ui/session`` (see :mod:`vidstruct.service.web_session`): ``POST`` signs in, ``GET`` tells the
session, ``DELETE`` signs out (the token is ended on the server, so a copy of the cookie stops working too) and
``POST /ui/session/end-all`` (with the session's ``X-CSRF-Token``) signs the key out everywhere: every session of
the signed-in key made until now, this one included. None of these are in the OpenAPI schema.

Every response here carries a strict Content-Security-Policy (no inline script or style, nothing from another
origin), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import hmac
import re
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vidstruct.service.api.deps import db_session, state
from vidstruct.service.api.problems import problem
from vidstruct.service.errors import AuthError, NotFoundError, ScopeError, ServiceError
from vidstruct.service.web_session import (
    COOKIE,
    CSRF_HEADER,
    SESSION_TTL_S,
    current,
    end_all_sessions,
    end_session,
    session_secret,
    sign_in,
)

router = APIRouter(include_in_schema=False)
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}  # fmt: skip
#: a cookie the pages can read (the session's is HttpOnly): "there may be a session", so a page without one does
#: not ask for it (an error answer would show in the browser's console)
MARKER = "vidstruct_signed_in"
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*\.(html|js|css|svg|png)$")


def web_root() -> Path:
    """The folder of the app's files (``vidstruct/service/web`` in the installed package)."""
    return Path(str(resources.files("vidstruct.service.web")))


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/")
def index() -> Response:
    """The app's page (its routes live after ``#``)."""
    return _secured(FileResponse(web_root() / "index.html", media_type=_STATIC_TYPES[".html"]))


@router.get("/ui/static/{name:path}")
def static(name: str) -> Response:
    """One file of the app (ES modules, CSS); names are checked against a strict pattern, never resolved
    outside the app's folder."""
    root = web_root()
    file = (root / name).resolve() if _STATIC_NAME.match(name) else None
    if file is None or not file.is_relative_to(root.resolve()) or not file.is_file():
        raise NotFoundError(f"no file {name[:100]!r} in the web app")
    return _secured(FileResponse(file, media_type=_STATIC_TYPES[file.suffix]))


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)


def _session_body(scope: str, prefix: str, csrf: str, expires: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"scope": scope, "key_prefix": prefix, "csrf": csrf}
    if expires is not None:
        body["expires_in_s"] = expires
    return body


def _same_origin(request: Request) -> None:
    """Refuse a sign-in posted from another site (a browser sends ``Origin`` with every POST)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise ScopeError("sign-in from another site is refused")


@router.post("/ui/session")
async def create_session(request: Request, session: Session = Depends(db_session)) -> Response:
    """Sign in with ``{"key": "..."}`` (scope read or more): sets the session cookie, answers ``{scope,
    key_prefix, csrf}``."""
    _same_origin(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise ServiceError('sign-in takes a JSON body {"key": "..."}')
    try:
        body = SignIn.model_validate_json(await request.body())
    except ValueError:
        raise ServiceError('sign-in takes a JSON body {"key": "..."}') from None
    row, signed = sign_in(session, state(request).settings.data_dir, body.key.strip())
    response = JSONResponse(_session_body(row.scope, row.prefix, signed.csrf, SESSION_TTL_S))
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, signed.token, max_age=SESSION_TTL_S, path="/", httponly=True, samesite="strict",
                        secure=secure)  # fmt: skip
    response.set_cookie(MARKER, "1", max_age=SESSION_TTL_S, path="/", samesite="strict", secure=secure)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/ui/session")
def get_session(request: Request, session: Session = Depends(db_session)) -> Response:
    """The signed-in key's scope, prefix and the session's CSRF value (401 when not signed in)."""
    try:
        row, csrf = current(session, state(request).settings.data_dir, request)
    except AuthError as exc:
        response = problem(401, str(exc), instance=request.url.path, title=exc.title)
        _clear(response, request)
        return response
    response = JSONResponse(_session_body(row.scope, row.prefix, csrf))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.delete("/ui/session")
def delete_session(request: Request, session: Session = Depends(db_session)) -> Response:
    """Sign out: the session's token is ended on the server (a copy of the cookie is refused from now on) and the
    cookie cleared."""
    token = request.cookies.get(COOKIE)
    if token:
        end_session(session, session_secret(state(request).settings.data_dir), token)
    response = JSONResponse({"signed_in": False})
    _clear(response, request)
    return response


@router.post("/ui/session/end-all")
def end_all(request: Request, session: Session = Depends(db_session)) -> Response:
    """Sign out everywhere: every session of the signed-in key made until now ends, this one included (needs the
    session's CSRF header; 401 without a session)."""
    row, csrf = current(session, state(request).settings.data_dir, request)
    if not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), csrf.encode()):
        raise ScopeError(f"a request of a signed-in page must send the {CSRF_HEADER} header of its session")
    end_all_sessions(session, row)
    response = JSONResponse({"signed_in": False})
    _clear(response, request)
    response.headers["Cache-Control"] = "no-store"
    return response


def _clear(response: Response, request: Request) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    response.delete_cookie(MARKER, path="/", samesite="strict", secure=secure)
