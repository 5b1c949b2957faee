"""``POST /v1/ask`` (answers, optionally streamed) and ``GET /v1/search`` (ranked passages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from irqa.api import sse
from irqa.api.deps import Ready, check_dates
from irqa.api.schemas import AnswerOut, AskRequest, HitOut, SearchOut, error_responses

router = APIRouter(tags=["questions"])


@router.post(
    "/v1/ask",
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
    a = eng.ask(req.question, k=req.k, company=req.company, date_from=req.date_from, date_to=req.date_to)
    body = AnswerOut.of(a)
    if not req.stream:
        return body
    return sse.response(_ask_events(body))


@router.get(
    "/v1/search",
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
) -> SearchOut:
    check_dates(date_from, date_to)
    hits = eng.search(q, k, company=company, date_from=date_from, date_to=date_to)
    return SearchOut(query=q.strip(), hits=[HitOut.of(h) for h in hits])


def _ask_events(body: AnswerOut) -> Iterator[bytes]:
    """``citations`` first (with the nearest passages, for abstentions), then text, then ``done``."""
    data = body.model_dump(mode="json")
    yield sse.event(
        {k: data[k] for k in ("id", "question", "abstained", "citations", "passages")}, "citations"
    )
    for piece in sse.pieces(body.answer):
        yield sse.event({"text": piece}, "delta")
    yield sse.event({k: data[k] for k in ("answer", "abstained", "timings_ms")}, "done")
