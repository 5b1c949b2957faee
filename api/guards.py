"""Two request guards that run before any route: who may write, and what counts as text.

**Cross-origin writes.** Without an API key (the default), any page a user visits could
``fetch("http://127.0.0.1:8000/v1/filings", {mode: "no-cors", method: "POST", body: form})``:
the browser sends it without a CORS preflight (it only hides the answer), and it used to replace
a real filing. Browsers mark every such request with ``Origin`` (and ``Sec-Fetch-Site``), which
a page cannot forge, so a change to filings is refused unless it comes from this server's own
origin, an origin listed in ``IRQA_CORS_ORIGINS``, or a client that is not a browser (no
``Origin``: curl, scripts, the CLI). Without an API key the ``Host`` must also be this
machine (a loopback name or an IP address) or a listed origin's host, which stops DNS
rebinding (a hostile name that resolves to 127.0.0.1 is "same-origin" to itself).

**Lone surrogates.** JSON may spell ``"\\ud800"``, which is not a character: Python keeps it, and
the first ``encode("utf-8")`` deep in the engine raised, giving a plain-text 500 and a reset
connection. JSON bodies that contain such an escape are checked once here and refused with 422.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from irqa.api.errors import error_body
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_WRITE_PATHS = ("/v1/filings", "/v1/jobs")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_write(scope: Scope) -> bool:
    """A request that changes filings (uploads, deletions, anything under those paths)."""
    path = scope["path"].rstrip("/")
    return scope["method"] in _WRITE_METHODS and any(
        path == p or path.startswith(p + "/") for p in _WRITE_PATHS
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


def _netloc(origin: str) -> str:
    parts = urlsplit(origin)
    return parts.netloc.lower() if parts.scheme in ("http", "https") else ""


def _is_local_host(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True  # an address, not a name: no DNS to rebind
    except ValueError:
        return False


class OriginGuard:
    """Refuse writes that a browser sent from another origin (403 ``cross_origin_write``)."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str], has_api_key: bool) -> None:
        self.app = app
        origins = set(allowed_origins)
        # "*" opens reading to every origin; it lets every origin write only behind an API key.
        self.any_origin = "*" in origins and has_api_key
        self.allowed = {_netloc(o) for o in origins if o != "*"} - {""}
        self.has_api_key = has_api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_write(scope):
            reason = self.refusal(scope)
            if reason:
                body = error_body("cross_origin_write", reason)
                await JSONResponse(body, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> str | None:
        host = (_header(scope, b"host") or "").lower()
        origin = _header(scope, b"origin")
        fetch_site = _header(scope, b"sec-fetch-site")
        hint = "list its origin in IRQA_CORS_ORIGINS (and set IRQA_API_KEY) to allow it"
        if origin is not None and not self.any_origin:
            netloc = _netloc(origin)
            if not netloc:
                return f"refused: a page with origin {origin!r} may not change filings here; {hint}"
            if netloc != host and netloc not in self.allowed:
                return f"refused: a page on {origin} may not change filings on this server; {hint}"
        elif origin is None and fetch_site in ("cross-site", "same-site") and not self.any_origin:
            return f"refused: a {fetch_site} page may not change filings on this server; {hint}"
        if not self.has_api_key and not _is_local_host(host) and host not in self.allowed:
            return (
                f"refused: without IRQA_API_KEY only this machine may change filings, and {host!r} is "
                "not a loopback name or an IP address; set IRQA_API_KEY, or list "
                f"'http://{host}' in IRQA_CORS_ORIGINS"
            )
        return None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)  # valid pairs were joined by json
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _is_json(scope: Scope) -> bool:
    return "json" in (_header(scope, b"content-type") or "").lower()


class TextGuard:
    """Refuse JSON bodies holding a lone UTF-16 surrogate (422 ``invalid_text``).

    Runs inside ``BodyLimit``, so the body it buffers is already capped; the body is replayed
    to the app unchanged. Only bodies that spell a surrogate escape are parsed here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITE_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left before sending the body: nothing to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as e:  # BodyLimit counting a body without Content-Length
            await JSONResponse(error_body("too_large", str(e.detail)), status_code=e.status_code)(
                scope, receive, send
            )
            return
        body = b"".join(chunks)
        try:
            lone = bool(_SURROGATE_ESCAPE.search(body)) and self._lone_surrogate(body)
        except RecursionError:  # nested deeper than Python's parser goes: not a request anyone means
            msg = "the request body is nested too deeply to be read as JSON"
            await JSONResponse(error_body("malformed_json", msg), status_code=400)(scope, receive, send)
            return
        if lone:
            msg = "the request contains a lone UTF-16 surrogate (such as \\ud800), which is not text"
            await JSONResponse(error_body("invalid_text", msg), status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _lone_surrogate(body: bytes) -> bool:
        try:
            return _has_lone_surrogate(json.loads(body))
        except ValueError:
            return False  # malformed JSON: the route answers 400 malformed_json
