"""The HTTP API and the analyst's web page, over one ``Engine``.

Blocking engine calls run in Starlette's threadpool (sync endpoints, ``run_in_threadpool``), so
a long ingest never stalls questions: readers keep answering from the snapshot they hold, and
the engine swaps in the new one atomically after the commit. Writers queue on the engine's lock.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from irqa.api import errors
from irqa.api.config import ApiConfig
from irqa.api.deps import Warmup
from irqa.api.limits import BodyLimit
from irqa.api.routes import filings, openai, probes, questions, web
from irqa.rag.engine import Engine

DESCRIPTION = """\
Cited answers from Chinese A-share investor-relations filings (投资者关系活动记录表).

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`. Notable codes: `empty_question` (422),
`question_too_long` (413, over the server's `max_question_chars`), `not_found` (404),
`unsupported_file_type` (415), `upload_too_large` (413, over `max_upload_bytes` of file data),
`malformed_json` (400), `invalid_request` (422), `unauthorized` (401), `not_ready` (503).

When the server has an API key (`IRQA_API_KEY`), uploads and deletions need it as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; reading is open.
"""


def create_app(engine: Engine, config: ApiConfig | None = None, *, bootstrap: bool = True) -> FastAPI:
    """The app; with ``bootstrap`` it builds the sample index on startup when there is none."""
    config = config or ApiConfig(max_question_chars=engine.config.max_question_chars)
    warmup = Warmup(engine, bootstrap)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warmup.run, name="irqa-warmup", daemon=True).start()
        yield

    app = FastAPI(
        title="irqa",
        version="1",
        summary="Question answering over 投资者关系活动记录表 with citations.",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.warmup = warmup
    errors.install(app)
    app.add_middleware(BodyLimit, upload_limit=config.max_upload_bytes + 1024 * 1024)
    if config.cors_origins:  # for chat UIs served from another origin; off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    for module in (probes, questions, filings, openai, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    return app
