"""Request and response models: they validate input and document the wire shapes at /docs.

Responses reuse the engine's own JSON (``Answer.to_json``, ``hit_json``, ``IngestReport.to_json``)
so the CLI's ``--json`` output and the HTTP API never drift apart; the models here describe them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.models import FilingSummary


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="In Chinese or English. Empty → 422 `empty_question`; longer than the server's "
        "`max_question_chars` → 413 `question_too_long`.",
        examples=["what did 虹软 say about Turbo Fusion video power draw"],
    )
    company: str | None = Field(None, description="Restrict to one company: code, short name or alias.")
    date_from: dt.date | None = Field(None, description="Only filings dated on or after (YYYY-MM-DD).")
    date_to: dt.date | None = Field(None, description="Only filings dated on or before (YYYY-MM-DD).")
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve (default: server's top_k).")
    stream: bool = Field(
        False,
        description="Answer as server-sent events: `citations`, then `delta`s of text, then `done`.",
    )


class CitationOut(BaseModel):
    n: int
    filing_id: str
    company: str
    code: str
    record_no: str
    date: str | None
    question: str = Field(description="The investor's question that the quoted answer responded to.")
    quote: str
    passage_id: str
    score: float
    start: int = Field(description="Quote start in the filing's normalized text (GET /v1/filings/{id}).")
    end: int


class HitOut(BaseModel):
    passage_id: str
    filing_id: str
    company: str
    code: str
    record_no: str
    date: str | None
    section: str
    question: str
    text: str
    start: int
    end: int
    score: float


class AnswerOut(BaseModel):
    """Same object as `irqa ask --json`."""

    id: str | None
    question: str
    answer: str = Field(description="Quoted sentences with [n] citation markers, or the abstention reason.")
    abstained: bool
    citations: list[CitationOut]
    passages: list[HitOut] = Field(description="Ranked passages; on abstention, the nearest ones.")
    timings_ms: dict[str, float]


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]


class FilingsOut(BaseModel):
    filings: list[FilingSummary]


class FilingOut(BaseModel):
    """One filing: metadata, header facts, normalized text and its passages' spans in that text."""

    id: str
    source: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    content_hash: str
    header: dict[str, Any]
    text: str
    segments: list[dict[str, Any]]
    passages: list[dict[str, Any]]


class IngestOut(BaseModel):
    added: list[str]
    updated: list[str]
    skipped: list[str]
    deleted: list[str]
    failed: list[dict[str, str]]
    passages: int
    embedded: int
    seconds: float


class DeleteOut(BaseModel):
    deleted: str


class CompanyOut(BaseModel):
    code: str
    short_name: str
    company: str
    aliases: list[str]
    filings: int


class CompaniesOut(BaseModel):
    companies: list[CompanyOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


# OpenAI-compatible chat ----------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Plain text of the message, joining the text parts of multi-part content."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type", "text") == "text")


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat-completions request irqa uses; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field("irqa", description="Any value is accepted; the reply names `irqa`.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    company: str | None = Field(None, description="irqa extension: restrict to one company.")
    date_from: dt.date | None = Field(None, description="irqa extension.")
    date_to: dt.date | None = Field(None, description="irqa extension.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses an endpoint can return."""
    return {s: {"model": ErrorOut} for s in statuses}
