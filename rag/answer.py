"""Extractive answers with numbered citations; no LLM, no invented text.

The answer is made of sentences quoted verbatim from the best passages. Sentences are scored
by their embedding similarity to the question (the model handles Chinese/English mixes),
plus term overlap and the passage's retrieval rank. Consecutive chosen sentences of one
passage become one citation whose ``start``/``end`` locate the quote in the filing.

The answerer abstains, showing the nearest passages instead, when the question names a company
that is not indexed, or when even the best passage is not similar enough to the question.

Example::

    >>> answer = Answerer(embedder).answer(question, hits, resolution)
    >>> answer.answer
    '…视频应用功能对于功耗的压力非常大。[1]'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, embed_with_cache
from irqa.rag.companies import Resolution
from irqa.rag.ingest.chunk import sentence_spans
from irqa.rag.lexical import precise_words, tokenize
from irqa.rag.models import Answer, Citation, Hit, Span

_MIN_SENTENCE_CHARS = 6
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")
_QUESTION_WORDS = frozenset(
    {"多少", "哪些", "哪个", "哪家", "哪里", "哪天", "什么", "怎么", "怎么样", "如何", "是否", "为什么"}
    | {"有没有", "请问", "谢谢", "公司", "目前", "今年"}
)
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")


@dataclass
class AnswerParams:
    sentences: int = 3  # at most this many quoted sentences
    passages: int = 3  # sentences are drawn from this many top passages
    abstain_below: float = 0.78  # best passage cosine under this → abstain
    margin: float = 0.05  # neighbouring sentences within this of the best one join the quote


@dataclass
class _Candidate:
    hit_index: int
    order: int  # sentence position inside its passage
    span: Span  # in filing text
    text: str
    score: float = 0.0


class Answerer:
    def __init__(
        self, embedder: Embedder, params: AnswerParams | None = None, cache: VectorCache | None = None
    ) -> None:
        self.embedder = embedder
        self.params = params or AnswerParams()
        self.cache = cache  # sentence vectors: a passage asked about twice is embedded once

    @staticmethod
    def unmentioned_terms(query: str, hits: list[Hit], ignore: frozenset[str] = frozenset()) -> list[str]:
        """The question's Chinese content words when not one of them occurs in the best passages.

        "海康威视的董事长是谁？" retrieves Hikvision passages that look relevant to a vector model, but
        none says 董事长: quoting them would mislead. Company names and question words don't count.
        """
        terms = [
            w
            for w in dict.fromkeys(precise_words(query))
            if _CJK_WORD.fullmatch(w) and w not in _QUESTION_WORDS and w not in ignore
        ]
        evidence = "".join(h.passage.embed_text() for h in hits)
        if not terms or any(t in evidence for t in terms):
            return []
        return terms

    def abstain_reason(
        self, question: str, hits: list[Hit], resolution: Resolution, ignore: frozenset[str] = frozenset()
    ) -> str | None:
        if resolution.unknown and not resolution.codes:
            names = "、".join(dict.fromkeys(resolution.unknown))
            return f"The indexed filings do not cover {names}."
        if not hits:
            return "The indexed filings do not answer this question (nothing matched)."
        years = set(_YEAR.findall(question))
        if years and not any(y in h.passage.text for h in hits[:5] for y in years):
            return f"The indexed filings say nothing about {'/'.join(sorted(years))} here; the nearest passages are listed below."
        missing = self.unmentioned_terms(question, hits[: self.params.passages], ignore)
        if missing:
            return (
                f"The indexed filings do not mention {'、'.join(missing)} in the passages that match "
                "this question; the nearest passages are listed below."
            )
        best = max((h.dense for h in hits[:5] if h.dense is not None), default=None)
        no_terms = not any(h.lexical for h in hits[:5])  # not one question term in the best passages
        if best is not None and (best < self.params.abstain_below or (no_terms and best < 0.90)):
            return "The indexed filings do not answer this question; the nearest passages are listed below."
        return None

    def answer(
        self,
        question: str,
        hits: list[Hit],
        resolution: Resolution,
        qid: str | None = None,
        query: str | None = None,
        ignore: frozenset[str] = frozenset(),
    ) -> Answer:
        """Answer ``question`` from ``hits``.

        ``query`` (e.g. the glossary-expanded question) scores sentences and evidence; ``ignore``
        holds words that say nothing about the answer (the company names the question uses).
        """
        reason = self.abstain_reason(query or question, hits, resolution, ignore)
        if reason:
            return Answer(id=qid, question=question, answer=reason, abstained=True, passages=hits)
        chosen = self._choose(query or question, hits[: self.params.passages])
        citations, parts = self._cite(chosen, hits)
        return Answer(
            id=qid,
            question=question,
            answer=" ".join(parts),
            abstained=False,
            citations=citations,
            passages=hits,
            company=resolution.codes[0] if resolution.codes else None,
        )

    def _choose(self, question: str, hits: list[Hit]) -> list[_Candidate]:
        """A contiguous run of the best sentences of the answer passage, plus a better one elsewhere.

        The answer passage is the one of the top few whose vector is closest to the question:
        fusion ranks for recall, but the cosine judges best which passage talks about the
        question. Quoting neighbouring sentences keeps the answer readable in context.
        """
        if not hits:
            return []
        order = sorted(range(len(hits)), key=lambda i: -(hits[i].dense if hits[i].dense is not None else -1))
        cands: list[_Candidate] = []
        for hi in order:
            p = hits[hi].passage
            for n, sp in enumerate(sentence_spans(p.text, 0, len(p.text))):
                text = p.text[sp.start : sp.end]
                if len(text) >= _MIN_SENTENCE_CHARS:
                    span = Span(start=p.start + sp.start, end=p.start + sp.end)
                    cands.append(_Candidate(hi, n, span, text))
        if not cands:
            return []
        qv = self.embedder.embed_queries([question])[0]
        cos = embed_with_cache(self.embedder, [c.text for c in cands], self.cache)[0] @ qv
        qtok = set(tokenize(question))
        for c, s in zip(cands, cos, strict=True):
            overlap = len(qtok & set(tokenize(c.text))) / len(qtok) if qtok else 0.0
            c.score = float(s) + 0.05 * overlap
        primary = [c for c in cands if c.hit_index == order[0]]
        if not primary:  # the closest passage has no usable sentence
            primary = [c for c in cands if c.hit_index == cands[0].hit_index]
        best = max(primary, key=lambda c: c.score)
        run = [best]
        by_order = {c.order: c for c in primary}
        while len(run) < self.params.sentences:
            left, right = by_order.get(run[0].order - 1), by_order.get(run[-1].order + 1)
            options = [
                c for c in (left, right) if c is not None and c.score >= best.score - self.params.margin
            ]
            if not options:
                break
            pick = right if right in options else left  # answers elaborate after their lead sentence
            run = [pick, *run] if pick is left else [*run, pick]
        chosen = list(run)
        others = [c for c in cands if c.hit_index != best.hit_index and c.score > best.score + 0.01]
        if others and len(chosen) < self.params.sentences + 1:
            chosen.append(max(others, key=lambda c: c.score))
        lead = {hi: max(c.score for c in chosen if c.hit_index == hi) for hi in {c.hit_index for c in chosen}}
        return sorted(chosen, key=lambda c: (-lead[c.hit_index], c.order))  # the strongest quote first

    def _cite(self, chosen: list[_Candidate], hits: list[Hit]) -> tuple[list[Citation], list[str]]:
        """Group consecutive sentences of a passage into one citation each."""
        runs: list[list[_Candidate]] = []
        for c in chosen:
            last = runs[-1][-1] if runs else None
            if last and last.hit_index == c.hit_index and c.order == last.order + 1:
                runs[-1].append(c)
            else:
                runs.append([c])
        citations: list[Citation] = []
        parts: list[str] = []
        for n, run in enumerate(runs, start=1):
            h = hits[run[0].hit_index]
            p = h.passage
            start, end = run[0].span.start, run[-1].span.end
            quote = p.text[start - p.start : end - p.start]
            citations.append(
                Citation(
                    n=n,
                    filing_id=p.filing_id,
                    company=p.company,
                    code=p.code,
                    record_no=p.record_no,
                    date=p.date,
                    question=p.question,
                    quote=quote,
                    passage_id=p.id,
                    title=p.title,
                    score=h.score,
                    start=start,
                    end=end,
                )
            )
            parts.append(f"{quote}[{n}]")
        return citations, parts
