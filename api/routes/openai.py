"""OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions`` (streaming too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from irqa.api import chat, sse
from irqa.api.deps import Ready, check_dates
from irqa.api.schemas import AnswerOut, ChatRequest, error_responses

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
    a = eng.ask(turn.question, company=company, date_from=req.date_from, date_to=req.date_to)
    reply = chat.Reply(question=a.question, answer=AnswerOut.of(a).model_dump(mode="json"))
    if req.stream:
        return sse.response(chat.completion_chunks(reply, asked))
    prompt = "\n".join(m.text() for m in req.messages)
    return JSONResponse(chat.completion(reply, asked, prompt))
