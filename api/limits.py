"""A cap on request bodies, so no endpoint buffers an unbounded body.

Uploads get ``max_upload_bytes`` plus room for multipart framing (the upload reader enforces the
exact limit on file bytes); every other request is JSON or a form and gets ``json_limit``.
The declared Content-Length is checked up front, and the bytes actually received are counted.

A refusal reads (and drops) what the client is still sending before it answers, up to
``DRAIN_LIMIT`` bytes or ``DRAIN_SECONDS``: closing a socket with unread bytes in it makes the
kernel send a reset, and the client then loses the 413 it was about to read (the "lingering
close" web servers do; CI saw exactly this as "peer closed connection without sending complete
message body"). A client that asked for ``Expect: 100-continue`` has sent nothing yet and is
answered at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from irqa.api.errors import error_body
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_LIMIT = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class BodyLimit:
    def __init__(self, app: ASGIApp, upload_limit: int, json_limit: int = JSON_LIMIT) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/filings"
        limit = self.upload_limit if is_upload else self.json_limit
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"the request body is larger than the limit of {limit:,} bytes")
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        code = "upload_too_large" if limit == self.upload_limit else "too_large"
        body = error_body(code, f"the request body is larger than the limit of {limit:,} bytes")
        if dict(scope["headers"]).get(b"expect", b"").lower() != b"100-continue":
            # a client slower than DRAIN_SECONDS gets its answer now, and the reset with it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drain(receive, DRAIN_LIMIT), DRAIN_SECONDS)
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


async def drain(receive: Receive, cap: int) -> None:
    """Read and drop the rest of a request body, at most ``cap`` bytes (see the module docstring)."""
    seen = 0
    while seen <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
