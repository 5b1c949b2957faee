"""The HTTP API and the analyst's web page, over one ``Engine``.

Blocking reads run in Starlette's threadpool (sync endpoints), writes on the one writer thread
of a bounded queue (``irqa.api.jobs``), so a long ingest never stalls questions or health
checks: readers keep answering from the snapshot they hold, and the engine swaps in the new one
atomically after the commit.

Middleware, outermost first: CORS (only when configured), the body-size cap, the origin guard
for writes, the lone-surrogate check (``irqa.api.guards``).
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
from irqa.api.guards import OriginGuard, TextGuard
from irqa.api.jobs import WriteQueue
from irqa.api.limits import BodyLimit
from irqa.api.routes import filings, openai, probes, questions, timeline, visits, web
from irqa.rag.engine import Engine

DESCRIPTION = """\
Cited answers from Chinese A-share investor-relations filings (投资者关系活动记录表).

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`. Notable codes: `empty_question` (422),
`question_too_long` (413, over the server's `max_question_chars`), `not_found` (404),
`unsupported_file_type` (415), `upload_too_large` (413, over `max_upload_bytes` of file data),
`malformed_json` (400), `invalid_request` (422), `invalid_text` (422, a lone UTF-16 surrogate),
`unauthorized` (401), `cross_origin_write` (403), `not_a_filing` / `invalid_filing` (422),
`no_filing_ingested` (422, every file of an upload failed; per-file reasons in `failed`),
`busy` (503 with `Retry-After`: the write queue is full), `not_ready` (503),
`storage_full` (507), `storage_error` / `write_failed` / `internal_error` (500).

When the server has an API key (`IRQA_API_KEY`), uploads and deletions need it as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; reading is open. Without one, only this
server's own pages, origins listed in `IRQA_CORS_ORIGINS` and non-browser clients on this machine
may change filings.

Uploads answer 200 with the ingest report when it finishes within the server's
`ingest_wait_seconds`, else 202 with a job to poll at `GET /v1/jobs/{id}`
(`Prefer: respond-async` asks for the 202 at once).
"""


def create_app(engine: Engine, config: ApiConfig | None = None, *, bootstrap: bool = True) -> FastAPI:
    """The app; with ``bootstrap`` it builds the sample index on startup when there is none."""
    config = config or ApiConfig(max_question_chars=engine.config.max_question_chars)
    warmup = Warmup(engine, bootstrap)
    writes = WriteQueue(config.ingest_queue, config.ingest_wait_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warmup.run, name="irqa-warmup", daemon=True).start()
        yield
        writes.shutdown()

    app = FastAPI(
        title="irqa",
        version="1",
        summary="Question answering over 投资者关系活动记录表 with citations.",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.warmup = warmup
    app.state.writes = writes
    errors.install(app)
    app.add_middleware(TextGuard)
    app.add_middleware(OriginGuard, allowed_origins=config.cors_origins, has_api_key=bool(config.api_key))
    app.add_middleware(BodyLimit, upload_limit=config.max_upload_bytes + 1024 * 1024)
    if config.cors_origins:  # for chat UIs served from another origin; off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    for module in (probes, questions, filings, visits, timeline, openai, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    return app
