"""``POST /v1/ask`` (answers, optionally streamed) and ``GET /v1/search`` (ranked passages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from irqa.api import sse
from irqa.api.deps import Ready, check_dates
from irqa.api.schemas import AnswerOut, AskRequest, CitationOut, HitOut, SearchOut, error_responses
from irqa.rag.generate import Sentence
from irqa.rag.models import Answer
from irqa.rag.timeline import route

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
            "(`citations`, `delta`…, `done`). A generated answer streams each sentence once it passed "
            "the grounding check; a `citations` event (the whole list so far) precedes a sentence that "
            "cites a new passage. `done` carries the final answer, `mode`, `grounding` and `warning`.",
        },
        **error_responses(400, 413, 422, 503),
    },
)
def ask(req: AskRequest, eng: Ready) -> Any:
    check_dates(req.date_from, req.date_to)
    routed = route(eng, req.question, req.company, req.date_from, req.date_to)  # a timeline or comparison
    a = routed or eng.ask(
        req.question, k=req.k, company=req.company, date_from=req.date_from, date_to=req.date_to
    )
    items = eng.generate(a, "extractive" if routed else req.mode)
    if not req.stream:
        *_, final = items
        return AnswerOut.of(final)
    return sse.response(_ask_events(a, items))


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


_HEAD = ("id", "question", "abstained", "citations", "passages")
_DONE = ("answer", "abstained", "mode", "grounding", "warning", "citations", "timings_ms")


def _ask_events(asked: Answer, items: Iterator[Sentence | Answer]) -> Iterator[bytes]:
    """``citations`` first (with the nearest passages, for abstentions), then text, then ``done``.

    A generated answer sends each sentence as it passes the grounding check; one served whole
    (extractive, or the fallback) is cut into short pieces the same way.
    """
    citations: list[dict] = []
    for item in items:
        if isinstance(item, Answer):
            data = AnswerOut.of(item).model_dump(mode="json")
            if not citations:  # nothing streamed yet: the whole answer now
                yield sse.event({k: data[k] for k in _HEAD}, "citations")
                for piece in sse.pieces(item.answer):
                    yield sse.event({"text": piece}, "delta")
            yield sse.event({k: data[k] for k in _DONE}, "done")
            return
        new = [CitationOut.of(c).model_dump(mode="json") for c in item.new_citations]
        if not citations:
            head = AnswerOut.of(asked).model_dump(mode="json", include={"id", "question", "passages"})
            yield sse.event(head | {"abstained": False, "mode": "generative", "citations": new}, "citations")
        elif new:
            yield sse.event({"citations": citations + new}, "citations")
        citations += new
        yield sse.event({"text": item.text}, "delta")
