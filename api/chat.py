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
#: only the last few user turns can shape the question, each cut to a bounded length, so a
#: conversation of thousands of messages (or megabytes) costs what a short one does
MAX_TURNS = 4
MAX_TURN_CHARS = 1000
_FOLLOW_UPS = [
    re.compile(r"^(?:and\s+|ok,?\s+|so\s+)?(?:what|how)\s+about\s+(?P<x>.+?)$", re.I),
    re.compile(r"^(?:and\s+)?(?:the\s+)?same\s+(?:question\s+)?for\s+(?P<x>.+?)$", re.I),
    re.compile(r"^and\s+(?P<x>.+?)$", re.I),
    re.compile(r"^(?:那么|那|还有)?(?P<x>.+?)(?:的)?呢$"),
    re.compile(r"^(?:那么|那)(?P<x>.+?)(?:怎么样|如何)$"),
]
_TRAILING = "?？.。!！ \t"
#: a follow-up that is itself a complete question ("and what is Hikvision's revenue?") stands alone
_QUESTION = re.compile(
    r"^(?:what|which|who|when|where|why|how|is|are|does|do|did|can|could|will)\b|吗$|什么|多少|哪些|如何|怎么|是否|为什么",
    re.I,
)
#: "its" / "their" / "the company's" / "他们的": the previous company
_PRONOUN = re.compile(
    r"^(?:its|their|the\s+company's|the\s+firm's|his|her)\s+|^(?:他们|它|该公司|公司)的?", re.I
)


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


def _about(company: str, topic: str) -> str:
    """A standalone question about ``topic`` at ``company``, in the topic's language."""
    if _CJK.search(topic):
        return f"{company}的{topic}？"
    return f"What did {company} say about {topic}?"


def rewrite(engine: Engine, previous: str, follow_up: str) -> Turn:
    """``follow_up`` as a standalone question, given the ``previous`` (standalone) user question.

    - company swap ("那虹软呢？", "what about Hikvision?"): the previous question, company replaced;
    - topic change, same company ("那研发费用呢？", "And its R&D spending?"): the new topic asked
      about the previous question's company;
    - both ("海康的毛利率呢？", "What about Hikvision's gross margin?"): the new topic at the named company;
    - anything else (a complete question) is left alone.
    """
    x = follow_up_subject(follow_up)
    if x is None or not previous or _QUESTION.search(x):
        return Turn(follow_up)
    x = _PRONOUN.sub("", x).strip() or x
    spans = _mentions(engine, previous, engine.resolve(previous).codes)
    named = engine.mentions(x)
    if named:
        a, b, _ = named[0]
        company = x[a:b]
        topic = _tidy(re.sub(r"^(?:'s|’s|的)\s*", "", (x[:a] + " " + x[b:]).strip()))
        if topic:  # "海康的毛利率" → the new topic at the named company
            return Turn(_about(company, topic), company)
        return _swap(previous, spans, x)
    # "X's" / "X的" lets the resolver flag an unindexed company name as well as an indexed one
    target = engine.resolve(f"{x}的" if _CJK.search(x) else f"{x}'s")
    if target.codes or target.unknown:  # the follow-up names a company: swap it in
        return _swap(previous, spans, x)
    # the follow-up names a topic: ask it about the previous question's company
    if not spans:
        return Turn(follow_up)
    a, b = spans[0]
    return Turn(_about(previous[a:b], x))


def _swap(previous: str, spans: list[tuple[int, int]], x: str) -> Turn:
    """The previous question with its company mentions replaced by ``x``."""
    if not spans:
        sep = "：" if _CJK.search(previous) else ": "
        return Turn(f"{x}{sep}{previous}", x)
    out, last = [], 0
    for i, (a, b) in enumerate(spans):
        out += [previous[last:a], x if i == 0 else ""]
        last = b
    out.append(previous[last:])
    return Turn(_tidy("".join(out)), x)


def recent_user_turns(messages: list[ChatMessage], n: int = MAX_TURNS) -> list[str]:
    """The user messages that shape the last question, oldest first: back to the latest complete
    question (one that is not an elliptical follow-up), at most ``n``, each cut to ``MAX_TURN_CHARS``.

    Walks from the end and stops early: the cost does not depend on the conversation's length.
    """
    out: list[str] = []
    for m in reversed(messages):
        if m.role != "user":
            continue
        text = _bounded_text(m).strip()
        if text:
            out.append(text)
            if len(out) == n or (len(out) > 1 and follow_up_subject(text) is None):
                break
    return out[::-1]


def _bounded_text(m: ChatMessage) -> str:
    if isinstance(m.content, str):
        return m.content[: MAX_TURN_CHARS + 1]
    parts, size = [], 0
    for p in m.content or []:
        if p.get("type", "text") == "text":
            t = str(p.get("text", ""))[: MAX_TURN_CHARS + 1 - size]
            parts.append(t)
            size += len(t)
            if size > MAX_TURN_CHARS:
                break
    return "".join(parts)


def standalone_question(engine: Engine, messages: list[ChatMessage]) -> Turn:
    """The last user message, with the follow-ups among the last few user turns resolved in order.

    The last message is returned whole (the engine's length limit applies to it); earlier turns
    only give context, so they are cut to ``MAX_TURN_CHARS``.
    """
    turns = recent_user_turns(messages)
    if not turns:
        return Turn("")
    last = next(m for m in reversed(messages) if m.role == "user" and m.text().strip()).text().strip()
    turn = Turn(turns[0] if len(turns) > 1 else last)
    for text in turns[1:-1]:
        turn = rewrite(engine, turn.question, text)
    if len(turns) > 1:
        turn = rewrite(engine, turn.question, last)
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
