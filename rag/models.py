"""Typed records that cross module seams: ``Filing``, ``Passage``, ``Hit``, ``Citation``, ``Answer``.

Character spans (``start``/``end``) always index ``Filing.text``, the filing's normalized text,
so that ``filing.text[p.start:p.end] == p.text`` for every passage ``p``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

SectionKind = Literal["header", "narrative", "qa"]


class Span(BaseModel):
    """A half-open character range ``[start, end)`` in ``Filing.text``."""

    start: int
    end: int


class FilingHeader(BaseModel):
    """The header table of a 投资者关系活动记录表, as typed facts."""

    code: str = ""  # 证券代码, e.g. "688088"
    short_name: str = ""  # 证券简称, e.g. "虹软科技"
    company: str = ""  # full name, e.g. "虹软科技股份有限公司"
    record_no: str = ""  # 编号, e.g. "2024-007"
    activity_types: list[str] = Field(default_factory=list)  # ticked 活动类别, [] when unmarked
    participants: str = ""  # 参与单位名称及人员姓名
    activity_dates: list[dt.date] = Field(default_factory=list)  # 时间
    place: str = ""  # 地点
    reception_staff: list[str] = Field(default_factory=list)  # 上市公司接待人员姓名, one per line
    record_date: dt.date | None = None  # 日期 at the end of the record


class Segment(BaseModel):
    """A piece of the body: a narrative section, or one question with its answer."""

    kind: Literal["narrative", "qa"]
    title: str = ""  # nearest section heading, e.g. "第二部分、提问与回答环节"
    label: str = ""  # question label as printed, e.g. "Q2"; "" for narrative
    question: str = ""  # the question text (qa only)
    question_span: Span | None = None
    paragraphs: list[Span] = Field(default_factory=list)  # answer / narrative paragraphs


class Filing(BaseModel):
    """One parsed filing: header facts, normalized text and its segments."""

    id: str  # stock code + record number, e.g. "688088-2024-007"; content hash when unknown
    source: str  # original file name (never used as a path)
    content_hash: str  # sha256 of the normalized text
    header: FilingHeader
    text: str  # normalized text; all spans index into it
    segments: list[Segment] = Field(default_factory=list)
    header_span: Span | None = None  # the header table region

    @property
    def date(self) -> dt.date | None:
        """The record's date: 日期, else the first activity date."""
        h = self.header
        return h.record_date or (h.activity_dates[0] if h.activity_dates else None)

    @property
    def company(self) -> str:
        return self.header.short_name or self.header.company

    @property
    def qa_pairs(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "qa"]


class FilingSummary(BaseModel):
    """What listings show about an indexed filing."""

    id: str
    source: str
    company: str
    full_name: str
    code: str
    record_no: str
    date: dt.date | None
    content_hash: str
    passages: int
    questions: int

    @classmethod
    def of(cls, f: Filing, passages: int) -> FilingSummary:
        return cls(
            id=f.id,
            source=f.source,
            company=f.company,
            full_name=f.header.company,
            code=f.header.code,
            record_no=f.header.record_no,
            date=f.date,
            content_hash=f.content_hash,
            passages=passages,
            questions=len(f.qa_pairs),
        )


class Passage(BaseModel):
    """A retrievable unit: a chunk of an answer, a narrative paragraph group, or header facts."""

    id: str  # f"{filing_id}#{n}"
    filing_id: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    section: SectionKind
    title: str = ""
    label: str = ""  # "Q2" for answers
    question: str = ""
    text: str  # == filing.text[start:end]
    start: int
    end: int

    def embed_text(self) -> str:
        """What gets embedded and lexically indexed: the question gives the answer its topic."""
        parts = [f"{self.company}（{self.code}）"] if self.company else []
        if self.question:
            parts.append(f"问：{self.question}")
        elif self.title:
            parts.append(self.title)
        parts.append(self.text)
        return "\n".join(parts)


class Hit(BaseModel):
    """A passage with the scores that ranked it."""

    passage: Passage
    score: float  # fused score (higher is better)
    dense: float | None = None  # cosine similarity, when the dense retriever saw it
    lexical: float | None = None  # BM25 score, when the lexical retriever saw it
    rank: int = 0  # 1-based


class Citation(BaseModel):
    """A numbered reference from an answer to the filing text it quotes."""

    n: int
    filing_id: str
    company: str
    code: str
    record_no: str
    date: dt.date | None
    question: str
    quote: str
    passage_id: str
    title: str = ""  # section heading, for quotes from narrative sections (no question)
    score: float
    start: int = 0  # quote span in the filing's normalized text
    end: int = 0

    @classmethod
    def quoting(cls, n: int, hit: Hit, start: int, end: int) -> Citation:
        """Citation ``[n]`` of ``filing.text[start:end]``, a span inside ``hit``'s passage."""
        p = hit.passage
        return cls(
            n=n,
            filing_id=p.filing_id,
            company=p.company,
            code=p.code,
            record_no=p.record_no,
            date=p.date,
            question=p.question,
            quote=p.text[start - p.start : end - p.start],
            passage_id=p.id,
            title=p.title,
            score=hit.score,
            start=start,
            end=end,
        )


class Grounding(BaseModel):
    """How far the answer's text is backed by the filings (``irqa.rag.grounding``)."""

    verified: bool = True  # extractive quotes always; a generated reply only when every sentence passed
    unsupported: list[str] = Field(default_factory=list)  # generated sentences not served, verbatim


AnswerMode = Literal["generative", "extractive"]


class Answer(BaseModel):
    """The result of asking a question (its wire shape is ``irqa.api.schemas.AnswerOut``)."""

    id: str | None = None
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Hit] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    company: str | None = None  # resolved company code, if the question named one
    mode: AnswerMode = "extractive"  # "generative": written by the configured LLM, sentence-checked
    grounding: Grounding = Field(default_factory=Grounding)
    warning: str | None = None  # e.g. the LLM was unreachable and the extractive answer is served
