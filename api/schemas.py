"""Request and response models: the one definition of every wire shape.

The HTTP API, ``irqa ask --json``, ``irqa search --json``, ``irqa ingest --json`` and each
``irqa batch`` line all serialize through these models (``AnswerOut.of(answer)`` …), so the CLI and
the API cannot drift apart, and /docs documents exactly what is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from irqa.rag import visits
from irqa.rag.ingest.pipeline import IngestReport
from irqa.rag.models import (
    Answer,
    AnswerMode,
    Citation,
    Filing,
    FilingHeader,
    FilingSummary,
    Grounding,
    Hit,
    Passage,
    Segment,
)
from irqa.rag.timeline import Timeline, TimelineEntry
from irqa.rag.visits import CommonInstitution, InstitutionVisits, Visit, VisitCount
from pydantic import BaseModel, ConfigDict, Field


class AskFields(BaseModel):
    """The fields of one question, shared by ``POST /v1/ask`` and each ``irqa batch`` line."""

    question: str = Field(
        description="In Chinese or English. Empty → 422 `empty_question`; longer than the server's "
        "`max_question_chars` → 413 `question_too_long`.",
        examples=["what did 虹软 say about Turbo Fusion video power draw"],
    )
    company: str | None = Field(None, description="Restrict to one company: code, short name or alias.")
    date_from: dt.date | None = Field(None, description="Only filings dated on or after (YYYY-MM-DD).")
    date_to: dt.date | None = Field(None, description="Only filings dated on or before (YYYY-MM-DD).")
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve (default: server's top_k).")
    mode: AnswerMode | None = Field(
        None,
        description="`extractive` forces quoted sentences; default: `generative` when the server has an "
        "LLM (`IRQA_LLM_BASE_URL`), else extractive.",
    )


class AskRequest(AskFields):
    model_config = ConfigDict(extra="forbid")

    stream: bool = Field(
        False,
        description="Answer as server-sent events: `citations`, then `delta`s of text, then `done`.",
    )


class BatchItem(AskFields):
    """One line of ``irqa batch``: the fields of ``POST /v1/ask`` plus an id echoed back."""

    model_config = ConfigDict(extra="ignore")

    id: str | int | None = Field(None, description="Echoed in the answer line (default: the line number).")


class CitationOut(BaseModel):
    n: int
    filing_id: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    question: str = Field(description="The investor's question that the quoted answer responded to.")
    quote: str
    passage_id: str
    title: str = Field("", description="Section heading, for quotes from narrative sections.")
    score: float
    start: int = Field(description="Quote start in the filing's normalized text (GET /v1/filings/{id}).")
    end: int

    @classmethod
    def of(cls, c: Citation) -> CitationOut:
        return cls(**c.model_dump(exclude={"score"}), score=round(c.score, 6))


class HitOut(BaseModel):
    passage_id: str
    filing_id: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    section: str
    question: str
    text: str
    start: int
    end: int
    score: float

    @classmethod
    def of(cls, h: Hit) -> HitOut:
        p = h.passage
        return cls(
            passage_id=p.id,
            **p.model_dump(include={"filing_id", "company", "code", "record_no", "date", "section"}),
            question=p.question,
            text=p.text,
            start=p.start,
            end=p.end,
            score=round(h.score, 6),
        )


class GroundingOut(BaseModel):
    verified: bool = Field(
        description="True when nothing in the answer's source text failed the check: extractive quotes "
        "always; a generated reply only when every sentence passed."
    )
    unsupported: list[str] = Field(
        description="Generated sentences that were NOT served (no citation, or a number or name "
        "that no cited passage holds), verbatim."
    )

    @classmethod
    def of(cls, g: Grounding) -> GroundingOut:
        return cls(verified=g.verified, unsupported=list(g.unsupported))


class AnswerOut(BaseModel):
    """One answer: ``POST /v1/ask``, ``irqa ask --json`` and each ``irqa batch`` line."""

    id: str | int | None
    question: str
    answer: str = Field(
        description="Quoted sentences (extractive) or checked generated sentences, with [n] citation "
        "markers; or the abstention reason."
    )
    abstained: bool
    mode: AnswerMode = Field(description="`generative`: written by the LLM, every served sentence checked.")
    grounding: GroundingOut
    warning: str | None = Field(
        None, description="Why the answer is not what was asked for (e.g. the LLM was unreachable)."
    )
    citations: list[CitationOut]
    passages: list[HitOut] = Field(description="Ranked passages; on abstention, the nearest ones.")
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, a: Answer) -> AnswerOut:
        return cls(
            id=a.id,
            question=a.question,
            answer=a.answer,
            abstained=a.abstained,
            mode=a.mode,
            grounding=GroundingOut.of(a.grounding),
            warning=a.warning,
            citations=[CitationOut.of(c) for c in a.citations],
            passages=[HitOut.of(h) for h in a.passages],
            timings_ms={k: round(v, 2) for k, v in a.timings_ms.items()},
        )


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]


class FilingsOut(BaseModel):
    filings: list[FilingSummary]


class FilingPassageOut(BaseModel):
    """A passage of the filing being read (its filing's fields are on the filing)."""

    id: str
    section: str
    title: str
    label: str
    question: str
    text: str
    start: int
    end: int


class FilingOut(BaseModel):
    """One filing: metadata, header facts, normalized text and its passages' spans in that text."""

    id: str
    source: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    content_hash: str
    header: FilingHeader
    text: str
    segments: list[Segment]
    passages: list[FilingPassageOut]

    @classmethod
    def of(cls, f: Filing, passages: list[Passage]) -> FilingOut:
        return cls(
            id=f.id,
            source=f.source,
            company=f.company,
            code=f.header.code,
            record_no=f.header.record_no,
            date=f.date,
            content_hash=f.content_hash,
            header=f.header,
            text=f.text,
            segments=f.segments,
            passages=[FilingPassageOut.model_validate(p.model_dump()) for p in passages],
        )


class FailedFile(BaseModel):
    source: str
    error: str


class IngestOut(BaseModel):
    """What an ingest did: ``POST /v1/filings`` and ``irqa ingest --json``."""

    added: list[str]
    updated: list[str]
    skipped: list[str]
    deleted: list[str]
    failed: list[FailedFile]
    passages: int
    embedded: int
    seconds: float
    #: what each accepted file yielded (its id, Q&A pairs and passages), in file order
    records: list[FilingSummary] = []

    @classmethod
    def of(cls, r: IngestReport) -> IngestOut:
        return cls(
            added=r.added,
            updated=r.updated,
            skipped=r.skipped,
            deleted=r.deleted,
            failed=[FailedFile(source=s, error=e) for s, e in r.failed],
            passages=r.passages,
            embedded=r.embedded,
            seconds=round(r.seconds, 3),
            records=r.records,
        )


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
    mode: AnswerMode | None = Field(None, description="irqa extension: `extractive` forces quoted answers.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses an endpoint can return."""
    return {s: {"model": ErrorOut} for s in statuses}


class VisitsOut(BaseModel):
    """``GET /v1/visits`` and ``irqa visits --format json``: visits from the records' headers.

    ``visits``: the records matching the filters (company, institution, period). ``companies``:
    with an institution, the indexed companies it visited. ``counts``: with ``counts``, per
    company per month or per activity type. ``common``: with two filing ids, the institutions
    at both meetings (the other filters do not apply to it).
    """

    visits: list[Visit] = Field(default_factory=list)
    companies: list[InstitutionVisits] = Field(default_factory=list)
    counts: list[VisitCount] = Field(default_factory=list)
    common: list[CommonInstitution] = Field(default_factory=list)

    @classmethod
    def build(
        cls,
        all_visits: list[Visit],
        company: str | None = None,
        institution: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        counts: Literal["month", "type"] | None = None,
        common: tuple[str, str] | None = None,
    ) -> VisitsOut:
        if common is not None:
            return cls(common=visits.common_of(all_visits, *common))
        chosen = visits.select(all_visits, company, institution, date_from, date_to)
        out = cls(visits=chosen)
        if institution:
            out.companies = visits.companies_visited(chosen, institution)
        if counts == "month":
            out.counts = visits.counts_by_month(chosen)
        elif counts == "type":
            out.counts = visits.counts_by_type(chosen)
        return out

    def csv(self) -> str:
        """The answer's main table as CSV: common, else counts, else companies, else visits."""
        if self.common:
            return visits.rows_csv(self.common)
        if self.counts:
            return visits.rows_csv(self.counts)
        if self.companies:
            return visits.rows_csv(self.companies)
        return visits.visits_csv(self.visits)


class TimelineOut(BaseModel):
    """``GET /v1/timeline`` and ``irqa timeline --json``: what a company said about a topic in each
    of its records, oldest first (``irqa.rag.timeline``). An entry that does not discuss the topic
    has ``discussed: false``, the quote "not discussed" and no citation; ``changes`` sets the
    figures of a quote against the previous record that discussed it."""

    company: str
    code: str
    topic: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    terms: list[str] = Field(description="The topic's key terms that were looked for.")
    min_score: float = Field(description="The 'discussed' threshold (measured, README).")
    records: int
    discussed: int
    entries: list[TimelineEntry]

    @classmethod
    def of(cls, t: Timeline) -> TimelineOut:
        return cls(
            **t.model_dump(exclude={"entries"}),
            records=len(t.entries),
            discussed=len(t.discussed),
            entries=t.entries,
        )
