"""Refuses request bodies above a size limit with 413, before the application sees them."""

import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog_http.problems import PROBLEM_JSON


class BodySizeLimit:
    """ASGI middleware: checks Content-Length up front, and reads a streamed (chunked) body only up to the limit.

    The body is buffered (it is at most `max_bytes`) and handed on whole, so the application never sees a
    half-read request. Paths matching `streamed` (file uploads) pass through untouched: their endpoint streams
    the body to storage and enforces a limit of its own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = [re.compile(pattern) for pattern in streamed]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or any(p.fullmatch(scope["path"]) for p in self.streamed)
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # later calls wait for the disconnect, as the server would
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "urn:catalog:problem:body-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"request bodies are limited to {self.max_bytes} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
