"""Errors as RFC 9457 problem details (``application/problem+json``), never a traceback.

Every error response has ``type`` (``about:blank``), ``title``, ``status``, ``detail`` and ``instance`` (the
request path); a request that fails validation adds ``errors`` (where and what, without echoing the input).
An unexpected exception answers 500 with a fixed detail; the server log gets its type (its traceback at debug
level only).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidstruct.errors import VidstructError
from vidstruct.service.errors import RateLimitedError, ServiceError

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


def problem(
    status: int, detail: str, *, instance: str | None = None, title: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem JSON."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        response = problem(exc.status, str(exc), instance=request.url.path, title=exc.title)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimitedError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(VidstructError)
    async def _user(request: Request, exc: VidstructError) -> JSONResponse:
        return problem(422, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail), instance=request.url.path)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "the request does not match the API", instance=request.url.path, errors=errors)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # the traceback only at debug level: its text may quote request data (a path, a form field)
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        log.debug("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal server error (see the server log)", instance=request.url.path)
