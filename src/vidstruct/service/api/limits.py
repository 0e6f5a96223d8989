"""A request-body limit for the whole API (pure ASGI middleware): a declared ``Content-Length`` over the limit
is answered 413 at once; a streamed body is counted as it arrives and the read fails with 413 past the limit."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidstruct.service.api.problems import problem
from vidstruct.service.errors import TooLargeError


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(413, f"the request body is larger than {self.max_bytes} bytes", instance=scope["path"])
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message: dict[str, Any] = dict(await receive())
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLargeError(f"the request body is larger than {self.max_bytes} bytes")
            return message  # type: ignore[return-value]

        await self.app(scope, counted, send)
