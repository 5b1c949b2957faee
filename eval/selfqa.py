"""Self-supervised evaluation on any corpus of 投资者关系活动记录表 (``irqa eval selfqa DIR|--index``).

A record is question → answer pairs by construction: the parser gives every investor question
(``Segment.question``) with its answer paragraphs, and chunking makes passages whose
``Passage.question`` is that question. So every investor question is a test question whose gold
answer is known, on whatever records a user has — no hand-written gold, nothing tuned to them.

Choices, and why:

- **The masked index.** ``Passage.embed_text`` puts ``问：<question>`` before the answer, and the
  answerer reads ``Passage.question`` too (key-term coverage), so the question would find and
  vouch for itself. :func:`mask_corpus` copies every passage of the index with ``question=""``
  (a heading that repeats the question is blanked as well), embeds and tokenizes what that
  passage now embeds — ``company（code） + heading + answer text``, exactly what irqa does for a
  passage that has no question — and holds them in an in-memory :class:`Snapshot`, the store's
  view class with the local store's search code. Nothing in ``rag/`` changes and nothing is
  written: the normal index keeps its questions. A case whose question still occurs in its
  record's masked texts (an answer that quotes it) is skipped and counted (``meta.leaky``).
  Side effect, stated: the answerer's "section" of a masked passage (used only for the period
  check of figure questions) is the record's Q&A under its heading, since the question that
  told the sections apart is gone.
- **What users get.** Cases go through ``Engine.ask`` — company resolution, glossary, hybrid
  retrieval, the answerer and its refusals — on :class:`ViewEngine`, an ``Engine`` whose live view
  is the masked snapshot. Ranking figures come from ``Engine.search`` with the same question and
  filter (a refusal keeps only 3 passages).
- **Company scope.** An investor question was put to one company ("公司的产能情况？"); asked of an
  index of nine companies without a name it is about any of them. So a question that names no
  company is asked with its record's company as the filter (``Engine.ask(company=…)``, as a user
  on that company's page or ``--company``); one that names it (every English/mixed version does)
  is asked without a filter.
- **Answerable cases.** Every investor question of at least ``MIN_QUESTION_CHARS`` characters
  (``zh``), plus the English and mixed versions of ``eval/data/selfqa_en.jsonl``, matched to their
  gold segment by record file and original Chinese question (spacing ignored; else the record's
  most similar question at ≥ 0.8). Figures: hit@1/5/10 and MRR@10 of the segment's own passages;
  ``hit@5_or_copy`` also counts a passage of another record that repeats the gold answer
  (cosine ≥ ``answer_bar``: companies answer the same question the same way in several records);
  ``quote_in_answer``: the answer's first citation lies inside the segment's answer paragraphs
  (character spans of the filing text; a refusal counts as a miss, as ``citation_hit`` does in
  the other reports), and ``quote_in_answer_answered`` over answered cases; ``false_refusal``.
- **Unanswerable cases**, refusal expected:

  (a) *leave one record out*: the same ask on the index without the question's record. The
  record's rows are tombstoned in a view over the same segment (:class:`LeftOut`), so dense
  search, BM25 (whose statistics count live rows only) and the company table behave as an index
  built without it — nothing is re-embedded.
  (b) *another company*: the question asked about another indexed company, drawn per case by a
  stable hash: its own company's name replaced by the other's (short name; English name in
  Latin text), else the first 公司/贵公司 replaced by it, else the question prefixed with it.

  A case counts as unanswerable only when nothing left in the index answers it. The rule
  (:class:`AmbiguityRule`), decided per (gold question, target company, left-out record) with the
  original Chinese question and the gold answer, so a question's zh/en/mixed versions share it:
  the case is *ambiguous* — dropped and counted per kind — when among the target company's
  non-header passages outside the left-out record

  1. one repeats the gold answer (passage–passage cosine ≥ ``answer_bar``), or
  2. one belongs to a Q&A whose investor question is close to this one (question–question
     cosine ≥ ``question_bar``: the same question asked and answered elsewhere), or
  3. one of the question's ``nearest`` passages with cosine ≥ ``cosine_bar`` holds at least
     ``key_share`` of its key terms: figures (800g, 2025, 1.6t) and words in at most ``key_df``
     of the passages, question fillers (:data:`FILLERS`) and the company's names left out.

  The bars come from the cosines on the 101 real records (see :class:`AmbiguityRule`); the
  kept cases were read through by hand for a sample. ``meta.ambiguity`` records the rule.
- **Slices.** Every figure overall, per language (``zh``, ``en``, ``mixed``, and ``zh-paired``: the
  Chinese originals of the translated questions, so the languages compare on the same segments)
  and per company (the company the question came from).

The result is a :class:`SelfQAResults` (``kind="selfqa"``), written by ``eval.report.write_json``:
``systems`` are the slices all/zh/en/mixed with the shared metric keys (``citation_hit`` =
``quote_in_answer``), ``figures`` every slice's self-QA figures, ``rows`` one row per asked case,
``cases`` the self-QA facts of every case, ambiguous ones included.

Example::

    >>> results = run_selfqa(engine)                 # engine: any Engine with an index
    >>> sorted(results.figures)[:3]
    ['all', 'company:002415', 'company:688088']
    >>> results.figures["all"]["hit@5"] >= 0.8
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np
from irqa.embeddings.cache import VectorCache
from irqa.eval.jsonl import read_objects
from irqa.eval.metrics import first_hit_rank, latency_percentiles, mean, ndcg_at_k
from irqa.eval.results import EvalResults, PassageRow, QuestionRow, SystemResult, snippet
from irqa.eval.runner import embed_and_tokenize
from irqa.rag.answer import Assessment
from irqa.rag.engine import Engine
from irqa.rag.errors import IrqaError
from irqa.rag.models import Answer, Filing, Hit, Passage
from irqa.rag.store import Manifest, Snapshot, StoreView
from irqa.rag.store.view import SegmentView
from pydantic import BaseModel, Field, ValidationError

#: investor questions shorter than this ("谢谢", "还有吗") are no test
MIN_QUESTION_CHARS = 6
#: the English/mixed question set shipped with irqa
TRANSLATIONS = Path(str(files("irqa.eval").joinpath("data/selfqa_en.jsonl")))
LANGS = ("zh", "en", "mixed")
CaseKind = Literal["answerable", "leave_out", "other_company"]
KINDS: tuple[CaseKind, ...] = ("answerable", "leave_out", "other_company")
ROW_PASSAGES = 3  # passages kept per row in the JSON (a snippet each)
ROW_SNIPPET = 100

Tick = Callable[[str, int, int], None]  # (stage, done, total)


class SelfQAError(IrqaError):
    """The corpus gives nothing to evaluate, or the translation file is malformed."""

    code = "selfqa_error"


# inputs ----------------------------------------------------------------------------------------
class Translation(BaseModel):
    """One English or mixed version of a real investor question (``eval/data/selfqa_en.jsonl``)."""

    id: str
    lang: Literal["en", "mixed"]
    question: str
    source: str  # the record's file name (``Filing.source``)
    original: str  # the investor question as the record prints it: matches the gold segment
    #: the company name as the question writes it ("Innolight", "中际旭创"): replaced by another
    #: company's for the other-company case ("" when the question names none)
    name: str = ""


def load_translations(path: Path) -> list[Translation]:
    """Read a translation file; one bad line stops with its file and line number."""
    out: list[Translation] = []
    for line, obj in read_objects(Path(path), SelfQAError):
        try:
            out.append(Translation.model_validate(obj))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise SelfQAError(f"{path}:{line}: {where}: {first['msg']}") from None
    ids = [t.id for t in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise SelfQAError(f"{path}: id {dup!r} occurs twice")
    return out


def squash(text: str) -> str:
    """Text without whitespace and case: how question text is compared (PDF spacing varies)."""
    return re.sub(r"\s+", "", text).lower()


# the masked corpus -----------------------------------------------------------------------------
@dataclass
class Gold:
    """One investor question of the corpus and where its answer is."""

    key: str  # f"{filing_id}/{n}", n = 1-based position among the record's Q&A pairs
    filing_id: str
    source: str
    code: str
    company: str
    question: str
    start: int  # the answer paragraphs' extent in the filing text
    end: int
    rows: list[int]  # its passages' rows in the masked snapshot
    passage_ids: list[str]
    leaky: bool = False  # the question still occurs in a masked text of its record


def masked(p: Passage) -> Passage:
    """``p`` without its investor question: what it embeds and tokenizes no longer holds it."""
    if p.section != "qa" or not p.question:
        return p
    q, t = squash(p.question), squash(p.title)
    title = "" if t and (q in t or (len(t) >= MIN_QUESTION_CHARS and t in q)) else p.title
    return p.model_copy(update={"question": "", "title": title})


@dataclass
class MaskedCorpus:
    """The masked snapshot of an index, the investor questions it holds and what embedding cost."""

    view: Snapshot
    golds: list[Gold]
    filings: dict[str, Filing]
    embedded: int  # masked texts embedded afresh (the rest came from the vector cache)


def _gold_of(filing: Filing, n: int, seg, rows_by_id: dict[str, int], passages: Sequence[Passage]) -> Gold:
    start, end = seg.paragraphs[0].start, seg.paragraphs[-1].end
    own = [p for p in passages if p.section == "qa" and p.start >= start and p.end <= end]
    return Gold(
        key=f"{filing.id}/{n}",
        filing_id=filing.id,
        source=filing.source,
        code=filing.header.code,
        company=filing.company,
        question=" ".join(seg.question.split()),
        start=start,
        end=end,
        rows=[rows_by_id[p.id] for p in own],
        passage_ids=[p.id for p in own],
    )


def mask_corpus(
    view: StoreView, embedder, cache: VectorCache | None, tick: Tick | None = None
) -> MaskedCorpus:
    """Every passage of ``view`` with its investor question masked, embedded (through the vector
    cache) and tokenized by the index's analyzer, as one in-memory snapshot."""
    filings: dict[str, Filing] = {}
    passages: list[Passage] = []
    for s in view.summaries():  # (code, date, id) order: stable rows
        f = view.filing(s.id)
        if f is None:
            continue
        filings[f.id] = f
        passages += view.passages_of(f.id)
    if not passages:
        raise SelfQAError("the index holds no passages: ingest some records first")
    shown = [masked(p) for p in passages]
    texts = [p.embed_text() for p in shown]
    analyzer = view.analyzer
    vectors, tokens, fresh = embed_and_tokenize(texts, embedder, cache, analyzer, tick)
    manifest = Manifest(
        embedder=view.manifest.embedder,
        dim=int(vectors.shape[1]),
        family=view.manifest.family,
        filings={fid: f.content_hash for fid, f in filings.items()},
        companies=view.manifest.companies,
    )
    snap = Snapshot(
        manifest, filings, shown, vectors, tokens, generation="selfqa", kind="flat", analyzer=analyzer
    )
    rows_by_id = {p.id: i for i, p in enumerate(shown)}
    by_filing: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(shown):
        by_filing[p.filing_id].append(i)
    golds: list[Gold] = []
    for f in filings.values():
        own = [shown[i] for i in by_filing[f.id]]
        own_texts = [squash(texts[i]) for i in by_filing[f.id]]
        for n, seg in enumerate(f.qa_pairs, start=1):
            if len(squash(seg.question)) < MIN_QUESTION_CHARS or not seg.paragraphs:
                continue
            g = _gold_of(f, n, seg, rows_by_id, own)
            if not g.rows:
                continue
            q = squash(g.question)
            g.leaky = any(q in t for t in own_texts)
            golds.append(g)
    return MaskedCorpus(snap, golds, filings, fresh)


class LeftOut(SegmentView):
    """The masked snapshot with one record's rows tombstoned: what an index built without that
    record would answer (BM25 statistics count live rows only; the record's company leaves the
    company table when it was its only record), with no re-embedding."""

    def __init__(self, base: Snapshot, filing_id: str, rows: Sequence[int]) -> None:
        seg = base.segments[0]
        manifest = dataclasses.replace(
            base.manifest,
            filings={k: v for k, v in base.manifest.filings.items() if k != filing_id},
            deleted={seg.name: sorted(int(r) for r in rows)},
        )
        super().__init__(
            manifest, base.segments, f"selfqa-without-{filing_id}", located=False, analyzer=base.analyzer
        )
        self._out = filing_id

    def summaries(self):
        return [s for s in super().summaries() if s.id != self._out]

    def filing(self, filing_id: str) -> Filing | None:
        return None if filing_id == self._out else super().filing(filing_id)

    def passages_of(self, filing_id: str) -> list[Passage]:
        return [] if filing_id == self._out else super().passages_of(filing_id)


class ViewEngine(Engine):
    """``Engine.ask``/``search`` over a view given here instead of the store's live generation:
    the same resolve → retrieve → answer code, on the masked (or left-out) corpus."""

    def __init__(self, engine: Engine, view: StoreView) -> None:
        super().__init__(engine.config, lambda: engine.embedder, lambda: engine.query_embedder)
        self.base = view
        self._install(view)

    def live(self):  # type: ignore[override]
        assert self._live is not None
        return self._live

    @contextmanager
    def viewing(self, view: StoreView) -> Iterator[None]:
        """Answer from ``view`` inside the block (single-threaded use: the evaluation loop)."""
        self._install(view)
        try:
            yield
        finally:
            self._install(self.base)


# cases -----------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    kind: CaseKind
    lang: str
    question: str
    gold: Gold
    target: str  # the company code the question is about (the gold's, except other-company cases)
    #: the company filter it is asked with: its record's company when the question names none
    #: (an investor question was put to that company; unscoped, "公司的产能情况" is about any)
    company: str | None = None


def _stable_pick(key: str, options: Sequence[str]) -> str:
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16)
    return options[h % len(options)]


def _latin_name(resolver, code: str) -> str:
    entry = resolver.table.get(code, {})
    return next((a for a in entry.get("aliases", []) if a.isascii() and a.strip()), "")


def about_other(question: str, own: str, other: str, resolver, name: str = "") -> str:
    """``question`` asked about company ``other`` instead of ``own``.

    Its own company's name (``name``, or what the alias table finds) becomes the other's name
    in the same script; else the leading 公司 (贵公司, 你们公司) becomes the other's short name;
    else the question is prefixed with it.
    """
    zh_name = resolver.display_name(other)
    latin = _latin_name(resolver, other)
    spans = []
    if name and name in question:
        i = question.index(name)
        spans = [(i, i + len(name))]
    else:
        spans = [(a, b) for a, b, code in resolver.mentions(question) if code == own]
    if spans:
        out = question
        for a, b in sorted(spans, reverse=True):
            said = question[a:b]
            out = out[:a] + (latin if said.isascii() and latin else zh_name) + out[b:]
        return out
    m = re.search(r"(贵|你们|我们)?公司", question)
    if m:
        return question[: m.start()] + zh_name + question[m.end() :]
    if question.isascii() and latin:
        return f"{latin}: {question}"
    return f"{zh_name}：{question}"


def match_translations(
    translations: Sequence[Translation], golds: Sequence[Gold]
) -> tuple[list[tuple[Translation, Gold]], list[str]]:
    """Each translation's gold segment: same record file, same question (spacing ignored), else
    the record's most similar question when ≥ 0.8 alike (the parser may change a character);
    returns the matches and the ids of translations whose record or question is not indexed."""
    by_source: dict[str, list[Gold]] = defaultdict(list)
    for g in golds:
        by_source[g.source].append(g)
    matched, missing = [], []
    for t in translations:
        pool = by_source.get(t.source, [])
        want = squash(t.original)
        exact = [g for g in pool if squash(g.question) == want]
        if exact:
            matched.append((t, exact[0]))
            continue
        scored = sorted(
            ((SequenceMatcher(None, want, squash(g.question)).ratio(), g.key, g) for g in pool), reverse=True
        )
        if scored and scored[0][0] >= 0.8:
            matched.append((t, scored[0][2]))
        else:
            missing.append(t.id)
    return matched, missing


def build_cases(
    golds: Sequence[Gold], translations: Sequence[tuple[Translation, Gold]], resolver, codes: Sequence[str]
) -> list[Case]:
    """The three kinds of case for every usable investor question and every matched translation.

    The other company is drawn among ``codes`` by a stable hash of the case id; a question that
    names its company in Latin script is asked about a company with an English name."""
    asked: list[tuple[str, str, str, Gold, str]] = [(f"zh:{g.key}", "zh", g.question, g, "") for g in golds]
    asked += [(f"{t.lang}:{t.id}", t.lang, t.question, g, t.name) for t, g in translations]
    cases: list[Case] = []
    for cid, lang, q, g, name in asked:
        if g.leaky:
            continue
        names_own = bool(name) or any(code == g.code for _, _, code in resolver.mentions(q))
        scope = None if names_own else g.code
        cases.append(Case(cid, "answerable", lang, q, g, g.code, scope))
        cases.append(Case(f"{cid}:leave_out", "leave_out", lang, q, g, g.code, scope))
        others = [c for c in codes if c != g.code]
        if name and name.isascii():
            others = [c for c in others if _latin_name(resolver, c)]
        if others:
            other = _stable_pick(cid, others)
            asked_q = about_other(q, g.code, other, resolver, name)
            cases.append(Case(f"{cid}:other_company", "other_company", lang, asked_q, g, other))
    return cases


# which unanswerable cases are really unanswerable ----------------------------------------------
#: question words that say how something is asked, not what about (never key terms)
_FILLER_WORDS = """
关于 一下 怎么样 怎样 多少 多久 哪些 请问 介绍 分享 为何 为什么 是不是 不是 的话 目前 现在 情况 方面 主要 问题
看法 看待 预期 进展 计划 影响 未来 今年 明年 去年 您好 董秘 能否 可以 会不会 是否 哪里 具体 相关 以及 还是
已经 怎么 对于 这个 那么 这些 一些 有何 有无 展望 原因
"""
FILLERS = frozenset(_FILLER_WORDS.split())


@dataclass(frozen=True)
class AmbiguityRule:
    """When another record (or the other company's records) may answer a question: the case is
    then not counted as unanswerable (see the module docstring). Cosines are e5's, which are
    compressed: on the 101 real records a question's cosine to its own masked answer is
    0.867/0.874/0.888/0.904 at the 5/10/25/50th percentile, an answer's best passage–passage
    cosine to another record of its company 0.939/0.955/0.963 at the 5/25/50th (≥ 0.975: the
    same answer reworded), a question's best cosine to another record's question 0.895/0.914/0.928."""

    answer_bar: float = 0.975  # gold answer ~ another passage: the same answer given elsewhere
    question_bar: float = 0.95  # the same investor question asked in another record
    cosine_bar: float = 0.88  # a passage as close to the question as most own answers are …
    nearest: int = 10  # … among the question's nearest passages …
    key_share: float = 0.5  # … holding at least this share of its key terms and figures
    key_df: float = 0.10  # a key term: a question word in at most this share of the passages


@dataclass
class Label:
    ambiguous: bool
    reason: str  # why it was dropped ("" when kept)
    best_cosine: float | None  # the target's best passage for the question (masked vectors)


class Labeller:
    """Decides :class:`AmbiguityRule` for (gold question, target company, left-out record)."""

    def __init__(self, corpus: MaskedCorpus, query_vectors: np.ndarray, rule: AmbiguityRule) -> None:
        self.rule = rule
        view = corpus.view
        ps = list(view.passages)
        self.vectors = view.vectors
        self.codes = np.asarray([p.code for p in ps])
        self.filing_ids = np.asarray([p.filing_id for p in ps])
        self.body = np.asarray([p.section != "header" for p in ps])
        self.analyzer = view.analyzer
        self.words = [frozenset(self.analyzer.words(p.embed_text())) for p in ps]
        df: dict[str, int] = defaultdict(int)
        for ws in self.words:
            for w in ws:
                df[w] += 1
        self.df, self.n = df, max(len(ps), 1)
        self.golds = corpus.golds
        self.qv = query_vectors  # one row per gold, in corpus.golds order
        self.g_codes = np.asarray([g.code for g in self.golds])
        self.g_filings = np.asarray([g.filing_id for g in self.golds])
        self.index = {g.key: i for i, g in enumerate(self.golds)}
        self._memo: dict[tuple[str, str, str | None], Label] = {}
        self.ids = [p.id for p in ps]

    def copies(self, gold: Gold) -> frozenset[str]:
        """Passages (outside its own) that repeat the gold answer: cosine ≥ ``answer_bar``."""
        sims = (self.vectors[gold.rows] @ self.vectors.T).max(axis=0)
        sims[gold.rows] = 0.0
        return frozenset(self.ids[int(j)] for j in np.flatnonzero(sims >= self.rule.answer_bar))

    def key_terms(self, question: str, names: Iterable[str]) -> list[str]:
        """The question's figures and rare words (longest forms: 数据中心, not also 数据)."""
        skip = {n.lower() for n in names}
        out = []
        for w in dict.fromkeys(self.analyzer.words(question)):
            if len(w) < 2 or w in FILLERS or w in skip:
                continue
            if re.search(r"\d", w) or self.df.get(w, 0) / self.n <= self.rule.key_df:
                out.append(w)
        return [w for w in out if not any(w != o and w in o for o in out)]

    def label(self, gold: Gold, target: str, left_out: str | None, names: Iterable[str]) -> Label:
        memo_key = (gold.key, target, left_out)
        if memo_key in self._memo:
            return self._memo[memo_key]
        r = self.rule
        i = self.index[gold.key]
        cand = np.flatnonzero((self.codes == target) & self.body & (self.filing_ids != (left_out or "")))
        if not len(cand):
            out = Label(False, "", None)
        else:
            cos = self.vectors[cand] @ self.qv[i]
            same_answer = float((self.vectors[gold.rows] @ self.vectors[cand].T).max())
            asked = np.flatnonzero((self.g_codes == target) & (self.g_filings != (left_out or "")))
            asked = asked[asked != i]
            same_question = float((self.qv[asked] @ self.qv[i]).max()) if len(asked) else 0.0
            terms = self.key_terms(gold.question, names)
            share = 0.0
            for j in np.argsort(-cos, kind="stable")[: r.nearest]:
                if cos[j] < r.cosine_bar or not terms:
                    break
                share = max(share, sum(w in self.words[cand[j]] for w in terms) / len(terms))
            if same_answer >= r.answer_bar:
                reason = f"another passage repeats the answer (cosine {same_answer:.3f})"
            elif same_question >= r.question_bar:
                reason = f"the question was asked in another record (cosine {same_question:.3f})"
            elif share >= r.key_share:
                reason = f"a close passage holds {share:.0%} of its key terms"
            else:
                reason = ""
            out = Label(bool(reason), reason, float(cos.max()))
        self._memo[memo_key] = out
        return out


# running -----------------------------------------------------------------------------------------
class SelfQACase(BaseModel):
    """What a case is and how it went, beyond the generic :class:`QuestionRow` of the same id."""

    id: str
    kind: CaseKind
    lang: str
    code: str  # the company the investor question came from
    target: str  # the company it was asked about
    company_filter: str | None = None  # the company filter it was asked with (see Case.company)
    filing_id: str
    gold: str  # the gold segment's key: "<filing id>/<n-th Q&A pair>"
    original: str  # the investor question as the record prints it
    ambiguous: bool = False  # unanswerable cases only: dropped, another record may answer it
    reason: str = ""  # why it was dropped
    hit_rank: int | None = None
    abstained: bool | None = None  # None: not asked (ambiguous)
    quote_in_answer: bool | None = None  # answerable cases: the first citation quotes its own answer


class SelfQAResults(EvalResults):
    """``EvalResults`` of kind ``selfqa``: ``systems`` are the slices all/zh/en/mixed, ``figures``
    every slice's self-QA figures (``all``, ``lang:<l>``, ``company:<code>``), ``cases`` the facts
    of every case (ambiguous ones included) whose answered ones have a ``rows`` entry."""

    kind: Literal["selfqa"] = "selfqa"  # type: ignore[assignment]
    figures: dict[str, dict[str, float | int | None]] = Field(default_factory=dict)
    cases: list[SelfQACase] = Field(default_factory=list)


@dataclass
class _Outcome:
    case: Case
    label: Label | None = None
    answer: Answer | None = None
    ranked: list[Hit] = field(default_factory=list)
    ms: float | None = None
    copies: frozenset[str] = frozenset()  # other passages repeating the gold answer

    @property
    def asked(self) -> bool:
        return self.answer is not None

    def rels_or_copy(self, k: int) -> list[bool]:
        gold = set(self.case.gold.passage_ids) | self.copies
        return [h.passage.id in gold for h in self.ranked[:k]]

    def rels(self, k: int) -> list[bool]:
        gold = set(self.case.gold.passage_ids)
        return [h.passage.id in gold for h in self.ranked[:k]]

    def quote_in_answer(self) -> bool | None:
        if self.case.kind != "answerable" or self.answer is None:
            return None
        if self.answer.abstained or not self.answer.citations:
            return False
        c, g = self.answer.citations[0], self.case.gold
        return c.filing_id == g.filing_id and g.start <= c.start and c.end <= g.end


@dataclass
class Asked:
    """One asked case with what the answerer weighed (``run_selfqa(on_asked=...)``): the training
    cases of :mod:`irqa.eval.answerability`."""

    case: Case
    answer: Answer
    assessments: list[Assessment]

    def quote_ok(self) -> bool | None:
        """Answerable cases: whether the quote the answerer chose — whether or not it then refused —
        lies inside the case's own answer (None: not answerable, or nothing was quotable)."""
        if self.case.kind != "answerable" or not self.assessments or not self.assessments[0].chosen:
            return None
        a, g = self.assessments[0], self.case.gold
        first = a.chosen[0]
        p = a.hits[first.hit_index].passage
        spans = [c.span for c in a.chosen if c.hit_index == first.hit_index]
        return p.filing_id == g.filing_id and all(g.start <= s.start and s.end <= g.end for s in spans)


def _ask(engine: Engine, o: _Outcome, k: int, on_asked: Callable[[Asked], None] | None = None) -> None:
    t0 = time.perf_counter()
    sink: list[Assessment] | None = [] if on_asked else None
    o.answer = engine.ask(o.case.question, k, company=o.case.company, qid=o.case.id, assessments=sink)
    o.ms = round((time.perf_counter() - t0) * 1000, 2)
    if o.case.kind == "answerable":  # the ask's own retrieval, all k kept (a refusal keeps 3)
        o.ranked = engine.search(o.case.question, k, company=o.case.company)
    else:
        o.ranked = list(o.answer.passages)
    if on_asked is not None and sink is not None:
        on_asked(Asked(o.case, o.answer, sink))


def run_selfqa(
    engine: Engine,
    translations: Sequence[Translation] = (),
    *,
    k: int = 10,
    rule: AmbiguityRule | None = None,
    max_questions: int | None = None,
    dataset: str = "selfqa",
    tick: Tick | None = None,
    on_asked: Callable[[Asked], None] | None = None,
) -> SelfQAResults:
    """Evaluate ``engine``'s index on its own investor questions (see the module docstring).

    ``max_questions`` keeps the first N usable investor questions (index order) and the
    translations of those; ``tick(stage, done, total)`` reports "embed" and "ask" progress;
    ``on_asked`` receives every asked case with the answerer's assessments (training data)."""
    t_start = time.perf_counter()
    rule = rule or AmbiguityRule()
    cache = VectorCache(engine.config.cache_dir / "vectors.sqlite")
    corpus = mask_corpus(engine.snapshot(), engine.embedder, cache, tick)
    veng = ViewEngine(engine, corpus.view)
    resolver = veng.live().resolver
    codes = sorted(c for c in resolver.indexed if c)
    golds = [g for g in corpus.golds if not g.leaky][:max_questions]
    if not golds:
        raise SelfQAError(
            "the index holds no investor questions to ask (no Q&A pairs of "
            f"{MIN_QUESTION_CHARS}+ characters whose question is masked)"
        )
    kept = {g.key for g in golds}
    matched, missing = match_translations(translations, corpus.golds)
    matched = [(t, g) for t, g in matched if g.key in kept]
    cases = build_cases(golds, matched, resolver, codes)
    qv = veng.query_embedder.embed_queries([g.question for g in corpus.golds])
    labeller = Labeller(corpus, qv, rule)
    outcomes = [_Outcome(c) for c in cases]
    for o in outcomes:
        c = o.case
        if c.kind == "answerable":
            o.copies = labeller.copies(c.gold)
        else:
            left_out = c.gold.filing_id if c.kind == "leave_out" else None
            o.label = labeller.label(c.gold, c.target, left_out, resolver.names_of(c.gold.code))
    todo = [o for o in outcomes if o.label is None or not o.label.ambiguous]
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if tick:
            tick("ask", done, len(todo))

    for o in todo:  # whole index
        if o.case.kind != "leave_out":
            _ask(veng, o, k, on_asked)
            step()
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(corpus.view.passages):
        rows_of[p.filing_id].append(i)
    left: dict[str, list[_Outcome]] = defaultdict(list)
    for o in todo:
        if o.case.kind == "leave_out":
            left[o.case.gold.filing_id].append(o)
    for fid in sorted(left):  # one view per left-out record
        with veng.viewing(LeftOut(corpus.view, fid, rows_of[fid])):
            for o in left[fid]:
                _ask(veng, o, k, on_asked)
                step()
    names = {c: resolver.display_name(c) for c in codes}
    return _results(
        outcomes,
        engine,
        corpus,
        k=k,
        rule=rule,
        dataset=dataset,
        meta_extra={
            "companies": names,
            "translations": {"given": len(translations), "matched": len(matched), "not_indexed": missing},
            "leaky": sum(g.leaky for g in corpus.golds),
            "investor_questions": len(golds),
            "freshly_embedded": corpus.embedded,
            "seconds": round(time.perf_counter() - t_start, 1),
        },
    )


# figures ---------------------------------------------------------------------------------------
FIGURE_KEYS = (
    "answerable",
    "hit@1",
    "hit@5",
    "hit@10",
    "mrr@10",
    "hit@5_or_copy",
    "quote_in_answer",
    "quote_in_answer_answered",
    "false_refusal",
    "leave_out",
    "leave_out_ambiguous",
    "leave_out_refusal",
    "other_company",
    "other_company_ambiguous",
    "other_company_refusal",
    "unanswerable_refusal",
    "latency_ms_p50",
)


def _figures(outs: Sequence[_Outcome], k: int) -> dict[str, float | int | None]:
    ans = [o for o in outs if o.case.kind == "answerable" and o.asked]
    fig: dict[str, float | int | None] = {"answerable": len(ans)}
    ranks = [first_hit_rank(o.rels(k)) for o in ans]
    for n in (1, 5, 10):
        fig[f"hit@{n}"] = mean(float(r is not None and r <= n) for r in ranks)
    fig["mrr@10"] = mean(1.0 / r if r and r <= 10 else 0.0 for r in ranks)
    fig["hit@5_or_copy"] = mean(float(any(o.rels_or_copy(5))) for o in ans)
    quotes = [o.quote_in_answer() for o in ans]
    fig["quote_in_answer"] = mean(float(bool(q)) for q in quotes)
    answered = [
        q for o, q in zip(ans, quotes, strict=True) if o.answer is not None and not o.answer.abstained
    ]
    fig["quote_in_answer_answered"] = mean(float(bool(q)) for q in answered)
    fig["false_refusal"] = mean(float(o.answer.abstained) for o in ans if o.answer is not None)
    refused_all: list[float] = []
    for kind in ("leave_out", "other_company"):
        mine = [o for o in outs if o.case.kind == kind]
        asked = [o for o in mine if o.asked]
        refused = [float(o.answer.abstained) for o in asked if o.answer is not None]
        fig[kind] = len(asked)
        fig[f"{kind}_ambiguous"] = len(mine) - len(asked)
        fig[f"{kind}_refusal"] = mean(refused)
        refused_all += refused
    fig["unanswerable_refusal"] = mean(refused_all)
    fig["latency_ms_p50"] = latency_percentiles([o.ms for o in outs if o.ms is not None])["latency_ms_p50"]
    return fig


def _system(name: str, outs: Sequence[_Outcome], k: int) -> SystemResult:
    ans = [o for o in outs if o.case.kind == "answerable" and o.asked]
    asked = [o for o in outs if o.asked]
    m: dict[str, float | None] = {}
    rels = [o.rels(k) for o in ans]
    n_gold = [len(o.case.gold.passage_ids) for o in ans]
    for n in (1, 5, 10):
        m[f"hit@{n}"] = mean(float(any(r[:n])) for r in rels)
        m[f"recall@{n}"] = mean(sum(r[:n]) / g for r, g in zip(rels, n_gold, strict=True))
    ranks = [first_hit_rank(r) for r in rels]
    m["mrr@10"] = mean(1.0 / r if r and r <= 10 else 0.0 for r in ranks)
    m["ndcg@10"] = mean(ndcg_at_k(r, 10, n_relevant=g) for r, g in zip(rels, n_gold, strict=True))
    m["citation_hit"] = mean(float(bool(o.quote_in_answer())) for o in ans)
    m["abstention_accuracy"] = mean(
        float(o.answer.abstained == (o.case.kind != "answerable")) for o in asked if o.answer is not None
    )
    m["false_abstention_rate"] = mean(float(o.answer.abstained) for o in ans if o.answer is not None)
    latencies = [o.ms for o in asked if o.ms is not None]
    m |= latency_percentiles(latencies)
    curve = [mean(sum(r[:n]) / g for r, g in zip(rels, n_gold, strict=True)) or 0.0 for n in range(1, k + 1)]
    return SystemResult(
        name=name,
        metrics=m,
        n_questions=len(asked),
        recall_curve=curve if rels else [],
        latencies_ms=latencies,
    )


def _row(o: _Outcome, k: int) -> QuestionRow:
    gold = set(o.case.gold.passage_ids)
    a = o.answer
    assert a is not None
    return QuestionRow(
        id=o.case.id,
        question=o.case.question,
        system="irqa-hybrid",
        answerable=o.case.kind == "answerable",
        passages=[
            PassageRow(
                id=h.passage.id,
                code=h.passage.code,
                text=snippet(h.passage.text, ROW_SNIPPET),
                relevant=h.passage.id in gold,
            )
            for h in o.ranked[:ROW_PASSAGES]
        ],
        hit_rank=first_hit_rank(o.rels(k)) if o.case.kind == "answerable" else None,
        answer=a.answer,
        abstained=a.abstained,
        citation_hit=o.quote_in_answer(),
        latency_ms=o.ms,
    )


def _case(o: _Outcome, k: int) -> SelfQACase:
    c = o.case
    return SelfQACase(
        id=c.id,
        kind=c.kind,
        lang=c.lang,
        code=c.gold.code,
        target=c.target,
        company_filter=c.company,
        filing_id=c.gold.filing_id,
        gold=c.gold.key,
        original=c.gold.question,
        ambiguous=bool(o.label and o.label.ambiguous),
        reason=o.label.reason if o.label else "",
        hit_rank=first_hit_rank(o.rels(k)) if c.kind == "answerable" and o.asked else None,
        abstained=o.answer.abstained if o.answer is not None else None,
        quote_in_answer=o.quote_in_answer(),
    )


def _results(
    outcomes: Sequence[_Outcome],
    engine: Engine,
    corpus: MaskedCorpus,
    *,
    k: int,
    rule: AmbiguityRule,
    dataset: str,
    meta_extra: dict[str, Any],
) -> SelfQAResults:
    from irqa.eval.runner import _now, _versions

    slices: dict[str, list[_Outcome]] = {"all": list(outcomes)}
    for lang in LANGS:
        slices[f"lang:{lang}"] = [o for o in outcomes if o.case.lang == lang]
    # the Chinese originals of the translated questions: English/mixed compared on the same segments
    translated = {o.case.gold.key for o in outcomes if o.case.lang != "zh"}
    slices["lang:zh-paired"] = [o for o in slices["lang:zh"] if o.case.gold.key in translated]
    for code in sorted({o.case.gold.code for o in outcomes}):
        slices[f"company:{code}"] = [o for o in outcomes if o.case.gold.code == code]
    figures = {name: _figures(outs, k) for name, outs in slices.items()}
    systems = [
        _system(name.removeprefix("lang:"), slices[name], k)
        for name in ("all", *(f"lang:{x}" for x in LANGS))
    ]
    c = engine.config
    meta = {
        "k": k,
        "embedder": engine.embedder.name,
        "index": str(c.index),
        "filings": len(corpus.filings),
        "passages": len(corpus.view),
        "fusion": dataclasses.asdict(c.fusion),
        "answer": dataclasses.asdict(c.answer),
        "ambiguity": dataclasses.asdict(rule),
        "min_question_chars": MIN_QUESTION_CHARS,
        "notes": "Engine.ask over the index with every investor question masked from its passages; "
        "hit@k/MRR of the question's own answer passages (Engine.search, same resolution); "
        "quote_in_answer = first citation inside its own answer paragraphs; unanswerable = "
        "leave-one-record-out and another company, ambiguous cases dropped (eval/selfqa.py).",
        "versions": _versions(),
        **meta_extra,
    }
    return SelfQAResults(
        dataset=dataset,
        created=_now(),
        systems=systems,
        rows=[_row(o, k) for o in outcomes if o.asked],
        meta=meta,
        figures=figures,
        cases=[_case(o, k) for o in outcomes],
    )


# reports ---------------------------------------------------------------------------------------
#: the figures the terminal tables and the HTML slice table show, with their column headings
ANSWERABLE_COLUMNS = (
    ("answerable", "n", "asked"),
    ("hit@1", "h@1", "hit@1"),
    ("hit@5", "h@5", "hit@5"),
    ("mrr@10", "MRR", "MRR@10"),
    ("hit@5_or_copy", "h@5c", "hit@5, own answer or a copy of it"),
    ("quote_in_answer", "quote", "first citation inside the own answer"),
    ("quote_in_answer_answered", "q|ans", "the same, of answered cases"),
    ("false_refusal", "ref", "refused"),
    ("latency_ms_p50", "ms", "ask p50 ms"),
)
UNANSWERABLE_COLUMNS = (
    ("leave_out", "LOO", "record left out: asked"),
    ("leave_out_ambiguous", "drop", "dropped as ambiguous"),
    ("leave_out_refusal", "ref", "refused"),
    ("other_company", "other", "other company: asked"),
    ("other_company_ambiguous", "drop", "dropped as ambiguous"),
    ("other_company_refusal", "ref", "refused"),
    ("unanswerable_refusal", "all", "all unanswerable refused"),
)
TABLE_COLUMNS = ANSWERABLE_COLUMNS + UNANSWERABLE_COLUMNS


def slice_label(name: str, companies: dict[str, str]) -> str:
    """``company:300308`` → ``300308 中际旭创``; ``lang:en`` → ``en``."""
    if name.startswith("company:"):
        code = name.removeprefix("company:")
        return f"{code} {companies.get(code, '')}".strip()
    return name.removeprefix("lang:")


def _cell(key: str, value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if key in ("answerable", "leave_out", "other_company") or key.endswith("_ambiguous"):
        return str(int(value))
    return f"{value:.0f}" if key.startswith("latency") else f"{value:.{digits}f}"


def figures_tables(results: SelfQAResults) -> list:
    """Two rich tables, one row per slice (all, languages, companies): the answerable cases'
    figures, then the unanswerable cases' (asked, dropped as ambiguous, refused)."""
    from rich.table import Table

    companies = results.meta.get("companies", {})
    out = []
    for title, columns in (
        ("answerable: own answer found and quoted", ANSWERABLE_COLUMNS),
        ("unanswerable: record left out / other company, refusal expected", UNANSWERABLE_COLUMNS),
    ):
        table = Table(title=f"{results.dataset} self-QA — {title}", title_justify="left")
        table.add_column("slice", style="cyan", no_wrap=True)
        for _, head, _ in columns:
            table.add_column(head, justify="right")
        for name, fig in results.figures.items():
            table.add_row(
                slice_label(name, companies),
                *(_cell(key, fig.get(key), 2) for key, _, _ in columns),
                end_section=name in ("all", "lang:zh-paired"),
            )
        table.caption = " · ".join(f"{head} = {what}" for _, head, what in columns)
        table.caption_justify = "left"
        out.append(table)
    return out


def print_selfqa(results: SelfQAResults, console=None) -> None:
    """The slice table, then what was dropped or not found, on ``console``."""
    from rich.console import Console

    console = console or Console()
    for table in figures_tables(results):
        console.print(table)
    m = results.meta
    t = m.get("translations", {})
    console.print(
        f"{m.get('filings', 0)} records, {m.get('investor_questions', 0)} investor questions "
        f"({m.get('leaky', 0)} skipped: the question stays in its record's text); "
        f"{t.get('matched', 0)} of {t.get('given', 0)} English/mixed questions matched; "
        f"{m.get('seconds', 0)} s",
        highlight=False,
    )


def render_html(results: SelfQAResults, max_questions: int = 200) -> str:
    """The shared report page (:func:`irqa.eval.report.render_html`: slices as systems, recall
    curve, latency, per-question rows with misses first) with the slice table and the ambiguity
    rule on top."""
    from irqa.eval import report

    def miss(r: QuestionRow) -> bool:
        return bool(r.abstained) if not r.answerable else not (r.citation_hit and r.hit_rank == 1)

    ordered = results.model_copy(update={"rows": sorted(results.rows, key=lambda r: not miss(r))})
    page = report.render_html(ordered, max_questions)
    companies = results.meta.get("companies", {})
    tables = []
    for title, columns in (("Answerable", ANSWERABLE_COLUMNS), ("Unanswerable", UNANSWERABLE_COLUMNS)):
        head = "".join(f'<th title="{html.escape(w)}">{html.escape(h)}</th>' for _, h, w in columns)
        body = "".join(
            f'<tr><td style="white-space:nowrap">{html.escape(slice_label(name, companies))}</td>'
            + "".join(f"<td>{html.escape(_cell(key, fig.get(key)))}</td>" for key, _, _ in columns)
            + "</tr>"
            for name, fig in results.figures.items()
        )
        legend = " · ".join(f"{h} = {w}" for _, h, w in columns)
        tables.append(
            f'<h3>{title}</h3><table class="metrics"><thead><tr><th>slice</th>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table><p class="sub">{html.escape(legend)}</p>'
        )
    rule = results.meta.get("ambiguity", {})
    note = (
        "Answerable: every investor question asked of an index where every passage's investor question "
        "is masked; hit@k/MRR of its own answer passages; quote in answer = the first citation lies "
        "inside its own answer. Unanswerable: the question with its record left out, and asked about "
        "another company; dropped as ambiguous when another passage repeats the gold answer (cosine ≥ "
        f"{rule.get('answer_bar')}), the question was asked in another record (≥ {rule.get('question_bar')}), "
        f"or one of the {rule.get('nearest')} nearest passages with cosine ≥ {rule.get('cosine_bar')} holds "
        f"≥ {rule.get('key_share')} of its key terms (eval/selfqa.py)."
    )
    card = (
        f'<h2>Self-QA figures</h2><div class="card"><p class="sub">{html.escape(note)}</p>'
        f"{''.join(tables)}</div>"
    )
    marker = "<h2>Metrics</h2>"
    page = (
        page.replace(marker, card + marker, 1)
        if marker in page
        else page.replace("</main>", card + "</main>")
    )
    return page.replace("Relevance: qrels.", "Relevance: the question's own answer passages (self-QA).")


def write_html(results: SelfQAResults, path: str | Path, max_questions: int = 200) -> None:
    Path(path).write_text(render_html(results, max_questions), encoding="utf-8")
