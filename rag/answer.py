"""Extractive answers with numbered citations; no LLM, no invented text.

The answer is made of sentences quoted verbatim from the best passages. Every quotable unit
(:mod:`irqa.rag.quotes`: body sentences; header fields only when asked about) of the top passages
is scored with the whole evidence:

- its embedding similarity to the question (the model handles Chinese/English mixes),
- how many of the question's key terms it and its passage mention (:mod:`irqa.rag.evidence`:
  English terms through the glossary, names, periods),
- its passage's fused retrieval score, and, when the question asks for a figure, whether it holds one.

The best unit and its close neighbours are quoted; consecutive sentences of one passage become one
citation whose ``start``/``end`` locate the quote in the filing.

The answerer abstains — one line saying why, and at most 3 nearest passages — when the question
names a company that is not indexed, names something (a person, product, partner, period) the
best passages never mention, when too few of its key terms occur, when it asks for a figure and
the quote holds none, or when even the best passage is not similar enough to the question.

Example::

    >>> from irqa.rag.companies import Resolution
    >>> question = "虹软的Turbo Fusion视频功耗怎么样？"
    >>> hits = engine.search(question, 10, company="虹软科技")
    >>> answer = Answerer(embedder, engine.snapshot().analyzer).answer(question, hits, Resolution(codes=["688088"]))
    >>> answer.answer
    '...功耗...[1]'
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, embed_with_cache
from irqa.rag.analysis import Analyzer
from irqa.rag.answerability import Answerability, latin_share
from irqa.rag.companies import Resolution
from irqa.rag.evidence import QuestionTerms, has_number, question_terms
from irqa.rag.models import Answer, Citation, Hit, Passage, Span
from irqa.rag.quote_scoring import QuoteWeights
from irqa.rag.quotes import Unit, header_fields_asked, units

_SHORT_LEAD = 40  # characters: a quote this short takes its next sentence along
_NOT_ANSWERED = "The indexed filings do not answer this question; the nearest passages are listed below."


@dataclass
class AnswerParams:
    sentences: int = 3  # at most this many quoted sentences
    passages: int = 5  # sentences are drawn from this many top passages
    abstain_below: float = 0.78  # best passage cosine under this → abstain
    #: … and under this when not one question term occurs in the best passages (BM25 found nothing)
    abstain_below_without_terms: float = 0.90
    margin: float = 0.05  # neighbouring sentences within this of the best one join the quote
    min_coverage: float = 0.5  # share of the question's key terms the answer passage must mention
    number_coverage: float = 0.6  # … that the sentence quoting a figure must mention
    #: a sentence of another passage scoring within this of the best is quoted too (a second source)
    second_source_margin: float = 0.01
    shown_when_abstaining: int = 3  # nearest passages an abstention keeps
    #: units embedded per question (0: all): the best by the cheap evidence (key terms, figures,
    #: the passage's rank and cosine) — embedding is ~90% of an answer's time (eval/EXPERIMENTS.md)
    embed_units: int = 6
    #: the record's year counts as stating the period a question names ("2016年新易盛认为…" of a
    #: record dated 2016-05 that never writes "2016"); the ablation is in README "Quality"
    record_year: bool = True
    #: refuse a figure question whose quote holds no figure covering its terms (ablation: README)
    figure_rule: bool = True
    #: … but first quote the best sentence that states the figure, when one does (ablation: README)
    figure_fallback: bool = True


@dataclass
class Assessment:
    """What the answerer found before deciding (see :meth:`Answerer.assess`)."""

    hits: list[Hit]  # the hits the answer draws on (one company's when a name was assumed)
    terms: QuestionTerms
    chosen: list[_Candidate]  # the quote it would give, best first ([] when nothing is quotable)
    reason: str | None  # the rules' reason to refuse, or None
    #: a reason no answerability model overrides (a name, period, year or figure the quote lacks)
    precise: str | None = None
    hard: bool = False  # a reason no evidence overrides (company not indexed, filter conflict, no hits)
    assumed: str | None = None  # the company code assumed for a name irqa does not know
    features: dict[str, float] = field(default_factory=dict)  # for the answerability model
    #: every embedded candidate unit, with its quote features (for learning the quote weights)
    candidates: list[_Candidate] = field(default_factory=list)


@dataclass
class _Candidate:
    hit_index: int
    order: int  # unit position inside its passage
    span: Span  # in filing text
    text: str
    field: str = ""
    score: float = 0.0
    coverage: float = 0.0  # key terms in the unit and its passage's question/heading
    evidence: float = 0.0  # the score without the cosine
    features: dict[str, float] = dataclasses.field(default_factory=dict)  # ``QUOTE_FEATURES``
    cosine: float | None = None  # to the question, once embedded


def assumed_company(hits: list[Hit], top: int = 5) -> str | None:
    """The one company the best hits point to: the first hit's, when it also holds a majority of the top ``top``.

    Used when a question names something no alias matches; the score bar is the ordinary one
    (``Answerer._dissimilar``), applied afterwards to the same hits.
    """
    best = hits[:top]
    if not best:
        return None
    code = best[0].passage.code
    return code if sum(h.passage.code == code for h in best) * 2 > len(best) else None


class Answerer:
    def __init__(
        self,
        embedder: Embedder,
        analyzer: Analyzer,
        params: AnswerParams | None = None,
        cache: VectorCache | None = None,
        section: Callable[[Passage], str] | None = None,
        answerability: Answerability | None = None,
        sink: list[Assessment] | None = None,
        quote_weights: QuoteWeights | None = None,
    ) -> None:
        """``answerability``: the model that decides whether the evidence answers (None: the rules).
        ``sink``: every assessment is appended to it, with all features computed (for training).
        ``quote_weights``: how sentences are scored (default: the hand weights)."""
        self.embedder = embedder
        self.quote_weights = quote_weights or QuoteWeights.hand()
        self.answerability = answerability
        self.sink = sink
        self.analyzer = analyzer  # the index's: question terms and word overlap as the index sees them
        self.params = params or AnswerParams()
        self.cache = cache  # sentence vectors: a passage asked about twice is embedded once
        #: the whole section (answer to one investor question, or narrative part) a passage is cut from:
        #: the year a paragraph opens with holds for its later chunks too
        self.section = section or (lambda p: p.embed_text())

    # abstention ------------------------------------------------------------------------------
    def _refusal(self, resolution: Resolution, hits: list[Hit]) -> str | None:
        if resolution.conflict:
            asked = "、".join(resolution.conflict)
            return (
                f"The question is about {asked} but the company filter is {resolution.filter_name}; "
                "clear the filter or change it to ask about another company."
            )
        if resolution.unknown and not resolution.codes:
            names = "、".join(dict.fromkeys(resolution.unknown))
            return f"The indexed filings do not cover {names}."
        if not hits:
            return "The indexed filings do not answer this question (nothing matched)."
        return None

    def _dated(self, p: Passage, text: str | None = None) -> str:
        """``text`` (default: the passage's embedded text) as evidence that a period is discussed:
        with the record's year when ``record_year`` is set — a record speaks about the year it was
        held in (the figure fallback does not take it: see :meth:`_figures`)."""
        text = p.embed_text() if text is None else text
        return f"{text}\n{p.date.year}年" if self.params.record_year and p.date else text

    def _silent(self, terms: QuestionTerms, hits: list[Hit]) -> str | None:
        """Names or periods the question asks about that none of the best passages mentions."""
        evidence = "\n".join(self._dated(h.passage) for h in hits[: self.params.passages])
        names = terms.missing_names(evidence)
        if names:
            return f"The indexed filings do not mention {'、'.join(names)} in the passages that match this question."
        times = terms.missing_times(evidence)
        if times:
            return f"The indexed filings say nothing about {'/'.join(times)} here; the nearest passages are listed below."
        return None

    def _unsupported(
        self, terms: QuestionTerms, chosen: list[_Candidate], hits: list[Hit]
    ) -> tuple[str | None, str | None]:
        """Why the chosen quote does not answer the question: ``(precise, fuzzy)`` reasons, each None
        when that kind of rule passes. *Precise* rules name what the quote lacks — another year than
        the one asked, no figure for a figure question — and refuse whatever the answerability model
        says; the *fuzzy* one (too few key terms in the passage) is one of the model's features, and
        decides alone only without a model (the ablation in the README says why each is which)."""
        if not chosen:  # nothing quotable (e.g. only participant lists matched)
            evidence = "\n".join(h.passage.embed_text() for h in hits[: self.params.passages])
            missing = terms.missing_topics(evidence)
            if missing:
                return (
                    f"The indexed filings do not mention {'、'.join(missing)} in the passages that match "
                    "this question; the nearest passages are listed below."
                ), None
            return _NOT_ANSWERED, None
        best = max(chosen, key=lambda c: c.score)
        if terms.other_years(best.text):  # "2022 年…分红预案" does not answer a question about 2023
            years = "/".join(t.label for t in terms.times)
            return (
                f"The indexed filings say nothing about {years} here; the nearest passages are listed below."
            ), None
        if self.params.figure_rule and terms.asks_number and not self._figures(terms, chosen, hits):
            what = "、".join(t.label for t in terms.names + terms.topics) or "this"
            return (
                f"The indexed filings give no figure for {what}; the nearest passages are listed below.",
                None,
            )
        passage = hits[best.hit_index].passage
        context = passage.embed_text()
        if terms.coverage(context) < self.params.min_coverage:
            missing = terms.missing_topics(context)
            return None, (
                f"The indexed filings do not mention {'、'.join(missing)} in the passages that match "
                "this question; the nearest passages are listed below."
            )
        return None, None

    def _figures(
        self, terms: QuestionTerms, chosen: list[_Candidate], hits: list[Hit], strict: bool = False
    ) -> list[_Candidate]:
        """The chosen sentences that give the asked-for figure for the asked-for name and period.

        ``strict`` (the figure fallback, which looks past the best sentence): the period must be in
        the sentence or its investor question, not anywhere in its section or the record's year
        (sample dev-130: a 2022 figure of a record held in April 2023, in a section that mentions
        2023年一季度 elsewhere).
        """
        if strict:
            chosen = [
                c
                for c in chosen
                if not terms.missing_times(f"{c.text}\n{hits[c.hit_index].passage.question}")
            ]
        return [
            c
            for c in chosen
            if has_number(c.text)
            and c.coverage >= self.params.number_coverage
            and not terms.missing_names(c.text)
            and not terms.other_years(c.text)
            and not terms.missing_times(
                self._dated(hits[c.hit_index].passage, f"{c.text}\n{self.section(hits[c.hit_index].passage)}")
            )
        ]

    def _missing(self, a: Assessment) -> str:
        """A model's refusal in words: the key terms the quoted passage lacks, if any."""
        best = max(a.chosen, key=lambda c: c.score)
        missing = a.terms.missing_topics(a.hits[best.hit_index].passage.embed_text())
        if missing:
            return (
                f"The indexed filings do not mention {'、'.join(missing)} in the passages that match "
                "this question; the nearest passages are listed below."
            )
        return _NOT_ANSWERED

    def _dissimilar(self, hits: list[Hit]) -> str | None:
        best = max((h.dense for h in hits[:5] if h.dense is not None), default=None)
        no_terms = not any(h.lexical for h in hits[:5])  # not one question term in the best passages
        bar = self.params.abstain_below_without_terms if no_terms else self.params.abstain_below
        if best is not None and best < max(bar, self.params.abstain_below):
            return "The indexed filings do not answer this question; the nearest passages are listed below."
        return None

    def _abstain(self, qid: str | None, question: str, reason: str, hits: list[Hit]) -> Answer:
        shown = hits[: self.params.shown_when_abstaining]
        return Answer(id=qid, question=question, answer=reason, abstained=True, passages=shown)

    # answering -------------------------------------------------------------------------------
    def assess(
        self,
        question: str,
        hits: list[Hit],
        resolution: Resolution,
        query: str | None = None,
        ignore: frozenset[str] = frozenset(),
    ) -> Assessment:
        """Everything :meth:`answer` decides from: the quote it would give, the rules' reason to
        refuse, and the features the answerability model weighs (``irqa.eval.answerability``
        collects them to train it)."""
        hard = self._refusal(resolution, hits)
        assumed = None
        if not hard and resolution.guessed and not resolution.codes:
            # a name irqa does not know is no reason to refuse: if the evidence points to one company,
            # answer from it and say so; otherwise the ordinary evidence rules below decide
            assumed = assumed_company(hits)
            if assumed:
                hits = [h for h in hits if h.passage.code == assumed]
                ignore = ignore | frozenset(resolution.guessed)
                # sentences are scored as if the question named the company answering it: a made-up
                # name ("Foobar Corp") only lowers every cosine
                query = _renamed(query or question, resolution.guessed, hits[0].passage.company)
        terms = question_terms(question, self.analyzer, ignore)
        if hard:
            return Assessment(hits, terms, [], hard, precise=hard, hard=True, assumed=assumed)
        silent = self._silent(terms, hits)
        full = self.answerability is not None or self.sink is not None
        if silent and not full:  # the rules alone: no need to look further
            return Assessment(hits, terms, [], silent, precise=silent, assumed=assumed)
        pool: list[_Candidate] | None = [] if self.sink is not None else None
        top = hits[: self.params.passages]
        chosen = self._choose(question, query or question, terms, top, pool)
        if (
            self.params.figure_fallback
            and terms.asks_number
            and chosen
            and not self._figures(terms, chosen, top)
        ):
            # a figure question whose best sentence states no figure: quote the best one that does,
            # if any (else the figure rule below refuses)
            figures = self._choose(
                question,
                query or question,
                terms,
                top,
                None,
                lambda cs: self._figures(terms, cs, top, strict=True),
            )
            chosen = figures or chosen
        precise, fuzzy = self._unsupported(terms, chosen, hits)
        precise = silent or precise
        # the most specific reason first: what is missing, then "not similar enough"
        reason = precise or fuzzy or self._dissimilar(hits)
        features = self._features(question, terms, chosen, hits) if full else {}
        return Assessment(
            hits,
            terms,
            chosen,
            reason,
            precise=precise,
            assumed=assumed,
            features=features,
            candidates=pool or [],
        )

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

        ``query`` (e.g. the glossary-expanded question) scores sentences; ``ignore`` holds words
        that say nothing about the answer (the company names the question uses). With an
        answerability model the model decides whether to answer and the rules only explain a
        refusal; without one, any rule's reason refuses.
        """
        a = self.assess(question, hits, resolution, query, ignore)
        if self.sink is not None:
            self.sink.append(a)
        if a.hard or not a.chosen:
            return self._abstain(qid, question, a.reason or _NOT_ANSWERED, a.hits)
        if self.answerability is not None and not a.chosen[0].field:
            # the precise rules, then the model instead of the fuzzy ones (a header-field quote: the
            # rules, see irqa.rag.answerability)
            if a.precise or not self.answerability.answers(a.features):
                return self._abstain(qid, question, a.reason or self._missing(a), a.hits)
        elif a.reason:
            return self._abstain(qid, question, a.reason, a.hits)
        hits = a.hits
        citations, parts = self._cite(a.chosen, hits)
        if a.assumed:
            name = next(h.passage.company for h in hits)
            said = list(dict.fromkeys(resolution.guessed))  # "Foobar Corp", not also "Foobar"
            asked = "、".join(n for n in said if not any(n != o and n in o for o in said))
            parts.insert(
                0, f"(Assumed {asked} = {name} {a.assumed}, the company the matching filings are from.)"
            )
        return Answer(
            id=qid,
            question=question,
            answer=" ".join(parts),
            abstained=False,
            citations=citations,
            passages=hits,
            company=resolution.codes[0] if resolution.codes else a.assumed,
        )

    def _features(
        self, question: str, terms: QuestionTerms, chosen: list[_Candidate], hits: list[Hit]
    ) -> dict[str, float]:
        """The evidence as numbers (``irqa.rag.answerability.FEATURES``)."""
        top = hits[: self.params.passages]
        cos = [h.dense for h in top if h.dense is not None]
        evidence = "\n".join(h.passage.embed_text() for h in top)
        dated = "\n".join(self._dated(h.passage) for h in top)
        best = max(chosen, key=lambda c: c.score) if chosen else None
        n_terms = len(terms.names) + len(terms.topics) + len(terms.times)
        return {
            "cos_best": max(cos, default=0.0),
            "cos_top1": (top[0].dense or 0.0) if top else 0.0,
            "lexical_any": float(any(h.lexical for h in top)),
            "unit_cos": (best.score - best.evidence) if best else 0.0,
            "unit_score": best.score if best else 0.0,
            "unit_coverage": best.coverage if best else 0.0,
            "passage_coverage": terms.coverage(hits[best.hit_index].passage.embed_text()) if best else 0.0,
            "missing_names": float(len(terms.missing_names(evidence))),
            "missing_times": float(len(terms.missing_times(dated))),
            "other_years": float(bool(best and terms.other_years(best.text))),
            "asks_number": float(terms.asks_number),
            "figure_quoted": float(bool(self._figures(terms, chosen, hits))),
            "no_quote": float(not chosen),
            "latin_share": latin_share(question),
            "terms": math.log1p(n_terms),
        }

    def _candidates(self, question: str, terms: QuestionTerms, hits: list[Hit]) -> list[_Candidate]:
        asked = header_fields_asked(question)
        strong = [t for t in terms.names + terms.topics if len(t.label) >= 3 or t.label.isascii()]
        cands: list[_Candidate] = []
        for hi, h in enumerate(hits):
            p = h.passage
            ctx = f"{p.question}\n{p.title}"
            for u in units(p):
                if u.field and u.field not in asked and not _holds_any(u, strong):
                    continue  # header facts only answer questions about them
                span = Span(start=p.start + u.start, end=p.start + u.end)
                c = _Candidate(hi, u.order, span, u.text, u.field)
                c.coverage = terms.coverage(f"{u.text}\n{ctx}")
                cands.append(c)
        return cands

    def _choose(
        self,
        question: str,
        query: str,
        terms: QuestionTerms,
        hits: list[Hit],
        pool: list[_Candidate] | None = None,
        eligible: Callable[[list[_Candidate]], list[_Candidate]] | None = None,
    ) -> list[_Candidate]:
        """The best-supported unit, its close neighbours, and a better unit of another passage.

        ``eligible`` narrows the units that may lead the quote (and be a second source): the
        figure fallback passes the ones that state the asked-for figure.

        A unit's score: its cosine to the question + the :class:`~irqa.rag.quote_scoring.QuoteWeights`
        over its evidence (key-term coverage of the unit with its passage's investor question and of
        the whole passage, the passage's share of the best fused score and its rank, a figure when
        one is (likely) asked for, a header field the question asks about, the periods …).

        With ``embed_units`` set, only that many units — the best by everything but the cosine, plus
        the passage's own cosine — are embedded, then the chosen unit's neighbours as the quote grows,
        so that whether they join it is decided exactly as without the limit. ``pool`` receives every
        embedded unit (training the weights).
        """
        cands = self._candidates(question, terms, hits)
        if not cands:
            return []
        top = max((h.score for h in hits), default=0.0) or 1.0
        weights = terms.rarity([c.text for c in cands])  # "app" says more than "提供"
        passage_cov = [terms.coverage(h.passage.embed_text()) for h in hits]
        asked = header_fields_asked(question)
        qtok = self.analyzer.token_set(query)
        for c in cands:
            h = hits[c.hit_index]
            overlap = len(qtok & self.analyzer.token_set(c.text)) / len(qtok) if qtok else 0.0
            c.features = {
                "unit_coverage": terms.coverage(f"{c.text}\n{h.passage.question}", weights),
                "passage_coverage": passage_cov[c.hit_index],
                "fused_share": max(h.score, 0.0) / top,
                "token_overlap": overlap,
                "number_wanted": float(terms.prefers_number and has_number(c.text)),
                "field_asked": float(bool(c.field and c.field in asked)),
                "time_coverage": terms.time_coverage(c.text),
                "other_years": float(terms.other_years(c.text)),
                "passage_cos": h.dense or 0.0,
                "rank": float(c.hit_index),
                "lead": float(c.order == 0),
                "length": math.log1p(len(c.text)),
            }
        qv = self.embedder.embed_queries([query])[0]
        for c in cands:
            c.score = -math.inf  # not embedded (yet): never quoted
            c.evidence = self.quote_weights.evidence(c.features)

        def embed(some: list[_Candidate]) -> None:
            some = [c for c in some if c.score == -math.inf]
            if some:
                vecs = embed_with_cache(self.embedder, [c.text for c in some], self.cache)[0]
                for c, s in zip(some, vecs @ qv, strict=True):
                    c.cosine = float(s)
                    c.score = c.cosine + c.evidence
                    if pool is not None:
                        pool.append(c)

        leads = cands if eligible is None else eligible(cands)
        if not leads:
            return []
        limit = self.params.embed_units
        if limit and len(leads) > limit:
            embed(sorted(leads, key=lambda c: -(c.evidence + (hits[c.hit_index].dense or 0.0)))[:limit])
        else:
            embed(leads)
        best = max(leads, key=lambda c: c.score)
        primary = [c for c in cands if c.hit_index == best.hit_index]
        run = [best]
        by_order = {c.order: c for c in primary}
        while len(run) < self.params.sentences and not best.field:
            left, right = by_order.get(run[0].order - 1), by_order.get(run[-1].order + 1)
            embed([c for c in (left, right) if c is not None])  # neighbours decided as without a limit
            options = [
                c for c in (left, right) if c is not None and c.score >= best.score - self.params.margin
            ]
            if not options and right is not None and sum(len(c.text) for c in run) < _SHORT_LEAD:
                options = [right]  # a short lead sentence ("销售费用方面，…相关。") is explained by the next
            if not options:
                break
            pick = right if right in options else left  # answers elaborate after their lead sentence
            run = [pick, *run] if pick is left else [*run, pick]
        chosen = list(run)
        quoted = {c.text for c in run}
        others = [
            c
            for c in leads
            if c.hit_index != best.hit_index
            and c.score > best.score - self.params.second_source_margin
            and c.text not in quoted
        ]
        if others and len(chosen) < self.params.sentences + 1:
            chosen.append(max(others, key=lambda c: c.score))
        lead = {hi: max(c.score for c in chosen if c.hit_index == hi) for hi in {c.hit_index for c in chosen}}
        return sorted(chosen, key=lambda c: (-lead[c.hit_index], c.order))  # the strongest quote first

    def _cite(self, chosen: list[_Candidate], hits: list[Hit]) -> tuple[list[Citation], list[str]]:
        """Group consecutive sentences of a passage into one citation each."""
        runs: list[list[_Candidate]] = []
        for c in chosen:
            last = runs[-1][-1] if runs else None
            if last and last.hit_index == c.hit_index and c.order == last.order + 1 and not c.field:
                runs[-1].append(c)
            else:
                runs.append([c])
        citations: list[Citation] = []
        parts: list[str] = []
        for n, run in enumerate(runs, start=1):
            h = hits[run[0].hit_index]
            c = Citation.quoting(n, h, run[0].span.start, run[-1].span.end)
            citations.append(c)
            quote = c.quote
            parts.append(f"{quote}[{n}]")
        return citations, parts


def _renamed(text: str, names: list[str], name: str) -> str:
    """``text`` with each of ``names`` (case-insensitive, longest first) replaced by ``name``."""
    for n in sorted(set(names), key=len, reverse=True):
        text = re.sub(re.escape(n), name, text, flags=re.I)
    return text


def _holds_any(u: Unit, terms: list) -> bool:
    from irqa.rag.evidence import squash

    text = squash(u.text)
    return any(t.found_in(text) for t in terms)
