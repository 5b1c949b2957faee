"""The HTTP API and the analyst's web page, over one ``Engine``.

Blocking engine calls run in Starlette's threadpool (sync endpoints, ``run_in_threadpool``), so
a long ingest never stalls questions: readers keep answering from the snapshot they hold, and
the engine swaps in the new one atomically after the commit. Writers queue on the engine's lock.
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import chat, errors, sse
from api.errors import ApiError, question_error
from api.limits import BodyLimit
from api.schemas import (
    AnswerOut,
    AskRequest,
    ChatRequest,
    CompaniesOut,
    DeleteOut,
    FilingOut,
    FilingsOut,
    IngestOut,
    SearchOut,
    error_responses,
)
from api.uploads import read_sources
from rag.engine import Engine, QuestionError
from rag.models import Answer, hit_json

STATIC = Path(str(files("api").joinpath("static")))

DESCRIPTION = """\
Cited answers from Chinese A-share investor-relations filings (投资者关系活动记录表).

Errors are JSON: `{"error": {"code": "...", "message": "..."}}`. Notable codes: `empty_question` (422),
`question_too_long` (413, over the server's `max_question_chars`), `not_found` (404),
`unsupported_file_type` (415), `upload_too_large` (413, over `max_upload_bytes` of file data),
`malformed_json` (400), `invalid_request` (422), `unauthorized` (401), `not_ready` (503).

When the server has an API key (`IRQA_API_KEY`), uploads and deletions need it as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; reading is open.
"""


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

    def _progress(self, stage: str, done: int, total: int) -> None:
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
    key = request.app.state.warmup.engine.settings.api_key
    if key:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key")
        if not given or not hmac.compare_digest(given.encode(), key.encode()):
            raise ApiError(
                401,
                "unauthorized",
                "this server needs an API key for changes: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return ready(request)


Ready = Annotated[Engine, Depends(ready)]
Writer = Annotated[Engine, Depends(writer)]


def create_app(engine: Engine, *, bootstrap: bool = True) -> FastAPI:
    """The app; with ``bootstrap`` it builds the sample index on startup when there is none."""
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
    app.state.engine = engine
    app.state.warmup = warmup
    errors.install(app)
    s = engine.settings
    app.add_middleware(BodyLimit, upload_limit=s.max_upload_bytes + 1024 * 1024)
    if s.cors_origins:  # for chat UIs served from another origin; off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )

    def check_dates(date_from: dt.date | None, date_to: dt.date | None) -> None:
        if date_from and date_to and date_from > date_to:
            raise ApiError(422, "invalid_request", f"date_from {date_from} is after date_to {date_to}")

    def answer(eng: Engine, question: str, **kw: Any) -> Answer:
        try:
            return eng.ask(question, **kw)
        except QuestionError as e:
            raise question_error(e, s.max_question_chars) from None

    # probes ---------------------------------------------------------------------------------
    @app.get("/healthz", tags=["service"], summary="The process is up")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["service"],
        summary="The index is loaded (503 until then)",
        responses={503: {"description": "Still building or loading the index."}},
    )
    def readyz() -> JSONResponse:
        st = warmup.status()
        if st["ready"]:
            snap = engine.snapshot()
            st |= {"filings": len(snap.filings), "passages": len(snap.passages)}
        return JSONResponse(st, status_code=200 if st["ready"] else 503)

    # questions ------------------------------------------------------------------------------
    @app.post(
        "/v1/ask",
        tags=["questions"],
        response_model=AnswerOut,
        summary="Answer a question with citations",
        responses={
            200: {
                "content": {
                    "text/event-stream": {
                        "example": 'event: citations\ndata: {"citations": [...]}\n\n'
                        'event: delta\ndata: {"text": "…"}\n\nevent: done\ndata: {"timings_ms": {...}}\n\n'
                    }
                },
                "description": "The answer; with `stream: true` server-sent events "
                "(`citations`, `delta`…, `done`).",
            },
            **error_responses(400, 413, 422, 503),
        },
    )
    def ask(req: AskRequest, eng: Ready) -> Any:
        check_dates(req.date_from, req.date_to)
        a = answer(
            eng, req.question, k=req.k, company=req.company, date_from=req.date_from, date_to=req.date_to
        )
        body = a.to_json()
        if not req.stream:
            return JSONResponse(body)
        return sse.response(_ask_events(body))

    @app.get(
        "/v1/search",
        tags=["questions"],
        response_model=SearchOut,
        summary="Ranked passages for a query",
        responses=error_responses(413, 422, 503),
    )
    def search(
        eng: Ready,
        q: Annotated[str, Query(description="The query, in Chinese or English.")] = "",
        k: Annotated[int | None, Query(ge=1, le=100)] = None,
        company: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
    ) -> dict:
        check_dates(date_from, date_to)
        try:
            hits = eng.search(q, k, company=company, date_from=date_from, date_to=date_to)
        except QuestionError as e:
            raise question_error(e, s.max_question_chars) from None
        return {"query": q.strip(), "hits": [hit_json(h) for h in hits]}

    # filings --------------------------------------------------------------------------------
    @app.get("/v1/filings", tags=["filings"], response_model=FilingsOut, summary="Indexed filings")
    def list_filings(eng: Ready) -> dict:
        return {"filings": [f.model_dump(mode="json") for f in eng.filings()]}

    @app.get(
        "/v1/filings/{filing_id}",
        tags=["filings"],
        response_model=FilingOut,
        summary="One filing: header facts, normalized text, passages with character spans",
        responses=error_responses(404),
    )
    def get_filing(filing_id: str, eng: Ready) -> dict:
        snap = eng.snapshot()  # one snapshot for the filing and its passages
        f = snap.filings.get(filing_id)
        if f is None:
            raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
        return {
            "id": f.id,
            "source": f.source,
            "company": f.company,
            "code": f.header.code,
            "record_no": f.header.record_no,
            "date": f.date,
            "content_hash": f.content_hash,
            "header": f.header.model_dump(mode="json"),
            "text": f.text,
            "segments": [seg.model_dump(mode="json") for seg in f.segments],
            "passages": [
                p.model_dump(mode="json", exclude={"filing_id", "company", "code", "record_no", "date"})
                for p in snap.passages_of(f.id)
            ],
        }

    @app.post(
        "/v1/filings",
        tags=["filings"],
        response_model=IngestOut,
        summary="Upload filings (.txt/.pdf/.docx, multipart field 'files'); ingests incrementally",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                            },
                            "required": ["files"],
                        }
                    }
                },
            }
        },
        responses=error_responses(400, 401, 413, 415, 422, 503),
    )
    async def upload(request: Request, eng: Writer) -> dict:
        sources = await read_sources(request, s.max_upload_bytes)
        report = await run_in_threadpool(eng.ingest_sources, sources)
        return report.to_json()

    @app.delete(
        "/v1/filings/{filing_id}",
        tags=["filings"],
        response_model=DeleteOut,
        summary="Remove a filing and its passages",
        responses=error_responses(401, 404, 503),
    )
    def delete_filing(filing_id: str, eng: Writer) -> dict:
        if not eng.delete(filing_id):
            raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
        return {"deleted": filing_id}

    @app.get("/v1/companies", tags=["filings"], response_model=CompaniesOut, summary="Indexed companies")
    def companies(eng: Ready) -> dict:
        return {"companies": eng.companies()}

    # OpenAI-compatible ----------------------------------------------------------------------
    @app.get("/v1/models", tags=["openai"], summary="The one model: irqa")
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": chat.MODEL, "object": "model", "created": 0, "owned_by": "irqa"}],
        }

    @app.post(
        "/v1/chat/completions",
        tags=["openai"],
        summary="OpenAI-compatible chat: answers the last user message, resolving follow-ups",
        responses=error_responses(400, 413, 422, 503),
    )
    def chat_completions(req: ChatRequest, eng: Ready) -> Any:
        check_dates(req.date_from, req.date_to)
        asked = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        turn = chat.standalone_question(eng, req.messages) if asked.strip() else chat.Turn("")
        company = req.company or turn.company
        a = answer(eng, turn.question, company=company, date_from=req.date_from, date_to=req.date_to)
        reply = chat.Reply(question=a.question, answer=a.to_json())
        if req.stream:
            return sse.response(chat.completion_chunks(reply, asked))
        prompt = "\n".join(m.text() for m in req.messages)
        return JSONResponse(chat.completion(reply, asked, prompt))

    # the web page ---------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _ask_events(body: dict) -> Iterator[bytes]:
    """``citations`` first (with the nearest passages, for abstentions), then text, then ``done``."""
    yield sse.event(
        {
            "id": body["id"],
            "question": body["question"],
            "abstained": body["abstained"],
            "citations": body["citations"],
            "passages": body["passages"],
        },
        "citations",
    )
    for piece in sse.pieces(body["answer"]):
        yield sse.event({"text": piece}, "delta")
    yield sse.event(
        {"answer": body["answer"], "abstained": body["abstained"], "timings_ms": body["timings_ms"]}, "done"
    )
