"""OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions`` (streaming too)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from irqa.api import chat, sse
from irqa.api.deps import Ready, check_dates
from irqa.api.schemas import AnswerOut, ChatRequest, CitationOut, error_responses
from irqa.rag.generate import Sentence
from irqa.rag.models import Answer
from irqa.rag.timeline import route

router = APIRouter(tags=["openai"])


@router.get("/v1/models", summary="The one model: irqa")
def models() -> dict:
    return {
        "object": "list",
        "data": [{"id": chat.MODEL, "object": "model", "created": 0, "owned_by": "irqa"}],
    }


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat: answers the last user message, resolving follow-ups",
    responses=error_responses(400, 413, 422, 503),
)
def chat_completions(req: ChatRequest, eng: Ready) -> Any:
    check_dates(req.date_from, req.date_to)
    asked = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
    turn = chat.standalone_question(eng, req.messages) if asked.strip() else chat.Turn("")
    company = req.company or turn.company
    routed = route(eng, turn.question, company, req.date_from, req.date_to) if turn.question.strip() else None
    a = routed or eng.ask(turn.question, company=company, date_from=req.date_from, date_to=req.date_to)
    items = eng.generate(a, "extractive" if routed else req.mode)
    if req.stream:
        if not eng.generative or req.mode == "extractive" or routed:
            *_, final = items
            return sse.response(chat.completion_chunks(_reply(final), asked))
        return sse.response(_generated_chunks(items, asked))
    *_, final = items
    prompt = "\n".join(m.text() for m in req.messages)
    body = chat.completion(_reply(final), asked, prompt)
    message = body["choices"][0]["message"]
    message["content"] = _with_warning(message["content"], final)
    body["irqa"] |= _extra(final)
    return JSONResponse(body)


def _reply(a: Answer) -> chat.Reply:
    return chat.Reply(question=a.question, answer=AnswerOut.of(a).model_dump(mode="json"))


def _extra(a: Answer) -> dict[str, Any]:
    """irqa's fields beyond OpenAI's: how the answer was made and checked."""
    return {"mode": a.mode, "grounding": a.grounding.model_dump(), "warning": a.warning}


def _with_warning(content: str, a: Answer) -> str:
    return f"{content}\n\n(Note: {a.warning}.)" if a.warning else content


def _generated_chunks(items: Iterator[Sentence | Answer], asked: str) -> Iterator[bytes]:
    """``chat.completion.chunk`` events: each generated sentence once it passed the check, then the
    sources (and any warning), stop, ``[DONE]``. Chunks that add citations carry the list so far."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk"}
    base |= {"created": int(time.time()), "model": chat.MODEL}

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse.event(base | {"choices": [choice]} | extra)

    yield chunk({"role": "assistant", "content": ""}, citations=[])
    streamed = ""
    citations: list[dict] = []
    for item in items:
        if isinstance(item, Sentence):
            new = [CitationOut.of(c).model_dump(mode="json") for c in item.new_citations]
            citations += new
            streamed += item.text
            yield chunk({"content": item.text}, **({"citations": citations} if new else {}))
            continue
        reply = _reply(item)
        content = _with_warning(reply.content(asked), item)
        rest = content[len(streamed) :] if content.startswith(streamed) else content
        for piece in sse.pieces(rest):
            yield chunk({"content": piece})
        yield chunk({}, "stop", citations=reply.citations, irqa=reply.extra() | _extra(item))
    yield sse.event("[DONE]")
