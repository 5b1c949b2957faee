"""Gold questions and the quote-overlap relevance rule for the development question set.

Passages are produced by whatever chunker the engine uses, so gold answers cannot name passage
ids. Instead each gold item is a verbatim quote from a filing, and a retrieved passage counts as
relevant when it shares a long enough run of characters with the quote. Whitespace is ignored on
both sides (the Hikvision filing wraps lines mid-sentence) and both sides are NFKC-folded, so a
normalizer that turns full-width punctuation into ASCII does not break matching.

Example::

    >>> gold = [GoldItem(quote="公司研发人员595人，占公司总人数的比例为63.64%", code="688088")]
    >>> is_relevant("截至2024年6月30日，公司研发人员 595人，占公司总人数的比例为63.64%", "688088", gold)
    True
    >>> is_relevant("公司研发人员595人，占公司总人数的比例为63.64%", "002415", gold)
    False
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Literal

from irqa.eval.jsonl import read_objects
from pydantic import BaseModel, Field, ValidationError, model_validator

MIN_RUN = 20  # characters a passage must share with a quote (fewer only when the quote is shorter)

_WS = re.compile(r"\s+")

Lang = Literal["zh", "en", "mixed"]
Kind = Literal["number", "opinion", "person", "product", "date", "other"]


def squash(text: str) -> str:
    """NFKC-fold and drop all whitespace: the form in which quotes and passages are compared."""
    return _WS.sub("", unicodedata.normalize("NFKC", text))


class GoldItem(BaseModel):
    """One piece of evidence: a verbatim quote, optionally pinned to a stock code."""

    quote: str = Field(min_length=1)
    code: str | None = None  # 证券代码; None matches passages from any filing

    @model_validator(mode="after")
    def _quote_not_blank(self) -> GoldItem:
        if not squash(self.quote):
            raise ValueError("quote is only whitespace")
        return self


class EvalQuestion(BaseModel):
    """A development question with its gold evidence; unanswerable questions have none."""

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    relevant: list[GoldItem] = Field(default_factory=list)
    answerable: bool
    lang: Lang
    kind: Kind

    @model_validator(mode="after")
    def _gold_matches_answerable(self) -> EvalQuestion:
        if self.answerable and not self.relevant:
            raise ValueError("answerable question needs at least one relevant quote")
        if not self.answerable and self.relevant:
            raise ValueError("unanswerable question must have relevant: []")
        return self


class QuestionFileError(ValueError):
    """A malformed question file; the message names the file and line."""


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read a JSONL question file; blank lines are skipped, ids must be unique."""
    path = Path(path)
    out: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for no, raw in read_objects(path, QuestionFileError):
        try:
            q = EvalQuestion.model_validate(raw)
        except ValidationError as e:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'question'}: {err['msg']}" for err in e.errors()
            )
            raise QuestionFileError(f"{path}:{no}: {reasons}") from None
        if q.id in seen:
            raise QuestionFileError(f"{path}:{no}: duplicate id {q.id!r} (first on line {seen[q.id]})")
        seen[q.id] = no
        out.append(q)
    return out


@lru_cache(maxsize=4096)
def _ngrams(quote: str) -> tuple[int, frozenset[str]]:
    """The run length n for a quote and the set of its n-grams (cached: gold is reused per passage)."""
    q = squash(quote)
    n = min(MIN_RUN, len(q))
    return n, frozenset(q[i : i + n] for i in range(len(q) - n + 1))


def _shares_run(squashed_text: str, quote: str) -> bool:
    n, grams = _ngrams(quote)
    return any(squashed_text[i : i + n] in grams for i in range(len(squashed_text) - n + 1))


def matched_gold(passage_text: str, passage_code: str, gold: list[GoldItem]) -> list[int]:
    """Indices of the gold items this passage supports (used for recall over quotes)."""
    text = squash(passage_text)
    return [
        i
        for i, g in enumerate(gold)
        if (g.code is None or g.code == passage_code) and _shares_run(text, g.quote)
    ]


def is_relevant(passage_text: str, passage_code: str, gold: list[GoldItem]) -> bool:
    """True when the passage shares a run of min(20, len(quote)) characters with any gold quote."""
    text = squash(passage_text)
    return any((g.code is None or g.code == passage_code) and _shares_run(text, g.quote) for g in gold)
