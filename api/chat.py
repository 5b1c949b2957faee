"""OpenAI-compatible chat completions over the engine, with follow-up questions.

A chat client sends the whole conversation each turn. irqa answers the last user message, but
an elliptical follow-up ("what about Hikvision?", "那海康呢？") means nothing on its own, so it is
rewritten into a standalone question first: the previous question with its company swapped for
the new one (or, when the follow-up names a topic instead, the previous company with the new
topic). Citations travel in the text ([n] markers and a source list) for plain clients, and as a
structured ``citations`` field for clients that read it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from irqa.api import sse
from irqa.api.schemas import ChatMessage
from irqa.rag.engine import Engine

MODEL = "irqa"
_CJK = re.compile(r"[\u3400-\u9fff]")
_MAX_FOLLOW_UP = 40  # characters: longer messages are questions in their own right
_FOLLOW_UPS = [
    re.compile(r"^(?:and\s+|ok,?\s+|so\s+)?(?:what|how)\s+about\s+(?P<x>.+?)$", re.I),
    re.compile(r"^(?:and\s+)?(?:the\s+)?same\s+(?:question\s+)?for\s+(?P<x>.+?)$", re.I),
    re.compile(r"^and\s+(?P<x>.+?)$", re.I),
    re.compile(r"^(?:那么|那)?(?P<x>.+?)(?:的)?呢$"),
    re.compile(r"^(?:那么|那)(?P<x>.+?)(?:怎么样|如何)$"),
]
_TRAILING = "?？.。!！ \t"


def follow_up_subject(text: str) -> str | None:
    """The X of an elliptical follow-up (what/how about X, and X?, 那X呢？, X呢), else None."""
    t = text.strip().rstrip(_TRAILING).strip()
    if not t or len(t) > _MAX_FOLLOW_UP:
        return None
    for pattern in _FOLLOW_UPS:
        m = pattern.match(t)
        if m:
            x = m.group("x").strip().rstrip(_TRAILING)
            x = re.sub(r"(?:'s|’s|的)$", "", x).strip()
            return x or None
    return None


def _mentions(engine: Engine, text: str, codes: list[str]) -> list[tuple[int, int]]:
    """Character spans in ``text`` where the companies ``codes`` are named."""
    return [(a, b) for a, b, code in engine.mentions(text) if code in codes]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:?!，。；：？！、）)])", r"\1", text)
    text = re.sub(r"(?:\s*(?:和|与|及|、|,|，|\band\b)\s*)+(?=[?？。.!！]|$)", "", text)
    return text.strip()


@dataclass
class Turn:
    """A user message made standalone; ``company`` is set when a follow-up switched companies."""

    question: str
    company: str | None = None


def rewrite(engine: Engine, previous: str, follow_up: str) -> Turn:
    """``follow_up`` as a standalone question, given the ``previous`` (standalone) user question."""
    x = follow_up_subject(follow_up)
    if x is None or not previous:
        return Turn(follow_up)
    spans = _mentions(engine, previous, engine.resolve(previous).codes)
    # "X's" / "X的" lets the resolver flag an unindexed company name as well as an indexed one
    target = engine.resolve(f"{x}的" if _CJK.search(x) else f"{x}'s")
    if target.codes or target.unknown:  # the follow-up names a company: swap it in
        if not spans:
            sep = "：" if _CJK.search(previous) else ": "
            return Turn(f"{x}{sep}{previous}", x)
        out, last = [], 0
        for i, (a, b) in enumerate(spans):
            out += [previous[last:a], x if i == 0 else ""]
            last = b
        out.append(previous[last:])
        return Turn(_tidy("".join(out)), x)
    # the follow-up names a topic: ask it about the previous question's company
    if not spans:
        return Turn(follow_up)
    a, b = spans[0]
    company = previous[a:b]
    if _CJK.search(x):
        return Turn(f"{company}的{x}？")
    return Turn(f"What did {company} say about {x}?")


def standalone_question(engine: Engine, messages: list[ChatMessage]) -> Turn:
    """The last user message, with every follow-up in the conversation resolved in order."""
    turn = Turn("")
    for m in messages:
        if m.role != "user":
            continue
        text = m.text().strip()
        turn = rewrite(engine, turn.question, text) if turn.question else Turn(text)
    return turn


# replies --------------------------------------------------------------------------------------


@dataclass
class Reply:
    question: str  # the standalone question that was answered
    answer: dict[str, Any]  # AnswerOut, as JSON

    @property
    def citations(self) -> list[dict]:
        return self.answer["citations"]

    def content(self, asked: str) -> str:
        """The assistant message: the answer with [n] markers, then its sources."""
        a = self.answer
        lines = [a["answer"]]
        if a["citations"]:
            lines += ["", "Sources:"]
            for c in a["citations"]:
                q = f" — 问：{c['question']}" if c["question"] else ""
                lines.append(
                    f"[{c['n']}] {c['company']} ({c['code']}) 投资者关系活动记录表 {c['record_no']}, "
                    f"{c['date'] or 'undated'}{q}"
                )
        elif a["passages"]:
            lines += ["", "Nearest passages:"]
            for h in a["passages"][:3]:
                text = h["text"].replace("\n", " ")
                lines.append(f"- {h['company']} ({h['code']}) {h['record_no']}: {text[:90]}…")
        if self.question != asked.strip():
            lines += ["", f"(Answered as: “{self.question}”)"]
        return "\n".join(lines)

    def extra(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.answer["abstained"],
            "timings_ms": self.answer["timings_ms"],
        }


def _tokens(text: str) -> int:
    """A rough token count for ``usage``: CJK characters plus Latin words."""
    return len(_CJK.findall(text)) + len(re.findall(r"[A-Za-z0-9]+", text))


def completion(reply: Reply, asked: str, prompt: str) -> dict:
    content = reply.content(asked)
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(content)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "citations": reply.citations},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "citations": reply.citations,
        "irqa": reply.extra(),
    }


def completion_chunks(reply: Reply, asked: str) -> Iterator[bytes]:
    """``chat.completion.chunk`` events: role (with citations), content pieces, stop, ``[DONE]``."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk"}
    base |= {"created": int(time.time()), "model": MODEL}

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse.event(base | {"choices": [choice]} | extra)

    yield chunk({"role": "assistant", "content": ""}, citations=reply.citations)
    for piece in sse.pieces(reply.content(asked)):
        yield chunk({"content": piece})
    yield chunk({}, "stop", citations=reply.citations, irqa=reply.extra())
    yield sse.event("[DONE]")
