"""What routes depend on: the warm-up state, the engine once ready, the API key for writes,
the write queue.

Everything lives on ``app.state`` (set by ``create_app``): no module-level state, so several
apps can run in one process.
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from typing import Annotated, Any

from fastapi import Depends, Request
from irqa.api.config import ApiConfig
from irqa.api.errors import ApiError
from irqa.api.jobs import WriteQueue
from irqa.rag.engine import Engine


class Warmup:
    """Builds (if needed) and loads the index in the background so /healthz answers at once."""

    def __init__(self, engine: Engine, bootstrap: bool) -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.stage = "starting"
        self.done = 0
        self.total = 0
        self.error: str | None = None
        self.ready = threading.Event()

    def _progress(self, stage: str, done: int, total: int, item: str = "") -> None:
        self.stage, self.done, self.total = stage, done, total

    def run(self) -> None:
        try:
            if self.bootstrap:
                self.stage = "building"
                self.engine.ensure_index(progress=self._progress)
            self.stage = "loading"
            self.engine.snapshot()
            self.stage = "ready"
            self.ready.set()
        except Exception as e:  # reported by /readyz; the process stays up for /healthz
            self.stage, self.error = "failed", str(e).splitlines()[0] if str(e) else type(e).__name__

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ready": self.ready.is_set(), "stage": self.stage}
        if self.total:
            out["progress"] = {"done": self.done, "total": self.total}
        if self.error:
            out["error"] = self.error
        return out


def config(request: Request) -> ApiConfig:
    return request.app.state.config


def ready(request: Request) -> Engine:
    """The engine, once the index is loaded; 503 ``not_ready`` before."""
    warmup: Warmup = request.app.state.warmup
    if not warmup.ready.is_set():
        msg = f"the index is not loaded yet ({warmup.stage}); retry shortly"
        if warmup.error:
            msg = f"the index could not be loaded: {warmup.error}"
        raise ApiError(503, "not_ready", msg, headers={"Retry-After": "2"})
    return warmup.engine


def writer(request: Request) -> Engine:
    """``ready``, plus the API key when the server has one (uploads and deletions)."""
    key = config(request).api_key
    if key:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
        # Header values arrive as bytes that Starlette decodes as latin-1; a UTF-8 key ("密钥")
        # is compared as the UTF-8 bytes the client sent.
        if not given or not hmac.compare_digest(given.encode("latin-1"), key.encode("utf-8")):
            raise ApiError(
                401,
                "unauthorized",
                "this server needs an API key for changes: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return ready(request)


def check_dates(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise ApiError(422, "invalid_request", f"date_from {date_from} is after date_to {date_to}")


def writes(request: Request) -> WriteQueue:
    return request.app.state.writes


Ready = Annotated[Engine, Depends(ready)]
Writes = Annotated[WriteQueue, Depends(writes)]
Writer = Annotated[Engine, Depends(writer)]
Config = Annotated[ApiConfig, Depends(config)]
