"""Conversations with follow-ups (``eval/data/chat_dev.jsonl``) and how to score them.

Each line is one conversation whose *last* user message is judged::

    {"id": "chat-012", "lang": "zh", "kind": "topic",
     "messages": [{"role": "user", "content": "海康威视2022年的分红方案是什么？"},
                  {"role": "assistant", "content": "…"},
                  {"role": "user", "content": "海康的毛利率呢？"}],
     "relevant": [{"quote": "公司2022年整体毛利率为42.29%", "code": "002415"}]}

``kind`` is ``swap`` (another company, same topic), ``topic`` (same company, another topic) or
``new`` (a complete question that must be left alone). A conversation counts as answered when the
answer is not an abstention and one of its citations is relevant (the quote-overlap rule of
:mod:`irqa.eval.relevance`). The caller runs the system (``irqa eval chat`` wires the API's
follow-up rewriter and the engine), so this module needs neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from irqa.eval.jsonl import read_objects
from irqa.eval.metrics import latency_percentiles, mean
from irqa.eval.relevance import GoldItem, Lang, QuestionFileError, is_relevant
from pydantic import BaseModel, Field, ValidationError


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatCase(BaseModel):
    id: str = Field(min_length=1)
    lang: Lang
    kind: Literal["swap", "topic", "new"]
    messages: list[Message] = Field(min_length=1)
    relevant: list[GoldItem] = Field(min_length=1)


class ChatRow(BaseModel):
    id: str
    kind: str
    lang: str
    asked: str  # the last user message
    standalone: str  # what the system answered
    answer: str
    abstained: bool
    cited: bool  # answered with a relevant citation
    latency_ms: float | None = None


def load_chats(path: str | Path) -> list[ChatCase]:
    """Read a JSONL conversation file; ids must be unique and the last message must be the user's."""
    path = Path(path)
    out: list[ChatCase] = []
    seen: set[str] = set()
    for no, raw in read_objects(path, QuestionFileError):
        try:
            case = ChatCase.model_validate(raw)
        except ValidationError as e:
            raise QuestionFileError(f"{path}:{no}: {e.errors()[0]['msg']}") from None
        if case.messages[-1].role != "user":
            raise QuestionFileError(f"{path}:{no}: the last message must be the user's")
        if case.id in seen:
            raise QuestionFileError(f"{path}:{no}: duplicate id {case.id!r}")
        seen.add(case.id)
        out.append(case)
    return out


def score_chat(case: ChatCase, standalone: str, answer: Any, latency_ms: float | None = None) -> ChatRow:
    """One row; ``answer`` is a ``rag.models.Answer`` (duck-typed)."""
    cited = not answer.abstained and any(
        is_relevant(c.quote, c.code, case.relevant) for c in answer.citations
    )
    return ChatRow(
        id=case.id,
        kind=case.kind,
        lang=case.lang,
        asked=case.messages[-1].content,
        standalone=standalone,
        answer=answer.answer,
        abstained=answer.abstained,
        cited=cited,
        latency_ms=latency_ms,
    )


def chat_metrics(rows: Sequence[ChatRow]) -> dict[str, float | None]:
    """``answered_with_quote`` overall and per kind/language, abstention rate, latency."""
    out: dict[str, float | None] = {
        "conversations": float(len(rows)),
        "answered_with_quote": mean([float(r.cited) for r in rows]),
        "abstained": mean([float(r.abstained) for r in rows]),
    }
    for key in ("swap", "topic", "new"):
        out[f"answered_with_quote[{key}]"] = mean([float(r.cited) for r in rows if r.kind == key])
    for key in ("zh", "en", "mixed"):
        out[f"answered_with_quote[{key}]"] = mean([float(r.cited) for r in rows if r.lang == key])
    out |= latency_percentiles([r.latency_ms for r in rows if r.latency_ms is not None])
    return out
