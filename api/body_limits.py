"""Request bodies bounded while they arrive: 413 before an oversize upload is read to its end.

Starlette spools multipart files without a size limit and FastAPI reads a JSON
body whole, so a route can only check sizes after the whole body has arrived.
This ASGI middleware counts the bytes of the routes it knows as they come in:
a declared ``Content-Length`` over the limit is answered at once, and a body
(chunked or not) that grows past it is cut off with 413 while it is still being
sent. It also answers 415 for a body of the wrong media type on those routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    what: str  # "the upload", "the request body": how the 413 names it
    media_type: str | None = None  # required Content-Type (its first part), e.g. "multipart/form-data"


class BodyLimits:
    def __init__(self, app: ASGIApp, limits: dict[tuple[str, str], BodyLimit]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if limit.media_type and kind != limit.media_type:
            return await JSONResponse({"detail": f"expected a {limit.media_type} body"}, 415)(scope, receive, send)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            return await JSONResponse({"detail": f"{limit.what} is {int(declared)} bytes; the limit is "
                                                 f"{limit.max_bytes} bytes"}, 413)(scope, receive, send)
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise HTTPException(413, detail=f"{limit.what} exceeds the limit of {limit.max_bytes} bytes")
            return message

        await self.app(scope, counting, send)
