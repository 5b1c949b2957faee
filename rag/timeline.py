"""A company's statements over time: what it said about one topic in each of its records.

Analysts read IR records across quarters: how management's account of 1.6T demand, a Thai plant
or liquid cooling moved from one meeting to the next. Top-k retrieval over the whole index shows a
few passages; here every record of the company gets its own answer:

- The engine's hybrid retrieval runs once, restricted to the company (and the period), with ``k``
  as large as the company's passage count, so every passage is scored; passages are then grouped
  per record.
- A record *discusses* the topic when its best passage scores at least ``TimelineParams.min_score``
  on ``cosine + term_weight × term coverage`` (the topic's key terms, ``irqa.rag.evidence``, found in
  the passage or the investor question it answers). Both numbers were chosen on half the companies
  of the real records and measured on the other half (``eval/timeline.py``, README): a guessed
  threshold either lists every record or drops the ones that say it in other words.
- The quote is the record's sentence (``irqa.rag.quotes`` units) that holds most of the topic's
  terms, in its best passages; it is cited like any answer (``Citation``, spans in the filing text).
- Against the previous record that discussed it: the figures with a unit (capacity, share, growth,
  dates; ``irqa.rag.figures``) that are new, or changed under the same measure, side by side, and
  whether the wording turned more or less confident (a short list of cue words, shown).

:func:`compare` gives, per company, its best cited quotes on one topic; :func:`detect` recognizes
questions that ask for either ("中际旭创历次调研对1.6T的表述有何变化", "compare 中际旭创 and 新易盛
on 1.6T"), and :func:`route` answers them with one cited sentence per record, for ``/v1/ask`` and chat.

Example::

    >>> t = timeline(engine, "虹软", "Turbo Fusion")  # the sample filings: one record of 虹软科技
    >>> [(e.date.isoformat(), e.discussed) for e in t.entries]
    [('2024-08-27', True)]
    >>> t = timeline(engine, "中际旭创", "1.6T")  # doctest: +SKIP
    >>> [(e.date.isoformat(), e.discussed) for e in t.entries][:2]  # doctest: +SKIP
    [('2024-01-28', True), ('2024-04-21', True)]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from irqa.rag.errors import IrqaError
from irqa.rag.evidence import QuestionTerms, Term, question_terms, squash
from irqa.rag.figures import Figure, acronyms, figures, measures
from irqa.rag.models import Answer, Citation, FilingSummary, Hit
from irqa.rag.quotes import units
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from irqa.rag.engine import Engine


class UnknownCompany(IrqaError, ValueError):
    """The company is not one of the indexed ones."""

    code = "not_found"


@dataclass(frozen=True)
class TimelineParams:
    """How a record is judged to discuss the topic, and how long a quote may be.

    ``min_score`` and ``term_weight`` come from ``irqa eval timeline --choose`` on half the
    companies of ``eval/data/timeline_dev.jsonl`` (README, "A company's statements over time").
    """

    min_score: float = 0.89
    term_weight: float = 0.1
    #: how the record's passages are ranked before the decision (cosine + this × coverage)
    rank_weight: float = 0.1
    passages_per_record: int = 3  # the record's best passages searched for the quote
    max_quote_chars: int = 260


# models -------------------------------------------------------------------------------------


class FigureChange(BaseModel):
    """A figure of this record's quote set against the previous record that discussed the topic."""

    kind: Literal["new", "changed"]
    measure: str = Field(description="What it measures: the words before the number in its clause.")
    value: str = Field(description="As printed in this record, e.g. 30%, 2026年, 10亿元.")
    previous: str | None = Field(None, description="As printed in the previous record (changed only).")


class TimelineEntry(BaseModel):
    """One record of the company, in date order: its best quote on the topic, or not discussed."""

    filing_id: str
    record_no: str
    date: dt.date | None
    discussed: bool
    quote: str = Field(description='The best quote, or "not discussed".')
    citation: Citation | None = None
    question: str = Field("", description="The investor question the quoted answer responded to.")
    score: float = Field(description="cosine + term_weight × coverage of the record's best passage.")
    similarity: float = Field(description="Cosine of the topic to the record's best passage.")
    coverage: float = Field(description="Share of the topic's key terms in that passage (and its question).")
    figures: list[str] = Field(default_factory=list, description="Figures with a unit in the quote.")
    changes: list[FigureChange] = Field(
        default_factory=list, description="New or changed figures since the previous discussed record."
    )
    tone: Literal["more confident", "less confident", "same", ""] = Field(
        "", description="Wording against the previous discussed record ('' for the first)."
    )
    cues: list[str] = Field(
        default_factory=list, description="The confident (+) and cautious (−) words seen."
    )


class Timeline(BaseModel):
    """What ``company`` said about ``topic`` in each of its records, oldest first."""

    company: str
    code: str
    topic: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    terms: list[str] = Field(default_factory=list, description="The topic's key terms that were looked for.")
    min_score: float = Field(description="The 'discussed' threshold applied.")
    entries: list[TimelineEntry] = Field(default_factory=list)

    @property
    def discussed(self) -> list[TimelineEntry]:
        return [e for e in self.entries if e.discussed]


class CompanyQuotes(BaseModel):
    """One company's best quotes on a topic (for :func:`compare`)."""

    company: str
    code: str
    records: int
    discussed: int
    quotes: list[Citation] = Field(default_factory=list)


class Comparison(BaseModel):
    topic: str
    companies: list[CompanyQuotes] = Field(default_factory=list)


# the timeline -------------------------------------------------------------------------------

#: a decimal with a unit letter glued to it (1.6T, 3.2T, 2.5G): one term, not "6T"
_PRODUCT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[A-Za-z]+\w*")


def topic_terms(engine: Engine, topic: str, code: str | None = None) -> list[Term]:
    """The topic's checkable terms: names (1.6T, CPO), and content words (液冷, 产能, 毛利率)."""
    live = engine.live()
    ignore = set(live.resolver.names_of(code)) if code else set()
    qt: QuestionTerms = question_terms(topic, live.snapshot.analyzer, ignore=ignore)
    terms = [*qt.names, *qt.topics]
    products = [m.group() for m in _PRODUCT.finditer(topic)]
    if products:
        terms = [t for t in terms if not any(t.forms[0] in squash(p) for p in products)]
        terms = [Term(p, (squash(p),)) for p in dict.fromkeys(products)] + terms
    return terms


def coverage(terms: Sequence[Term], text: str) -> float:
    """Share of ``terms`` found in ``text`` (0 when there are none: nothing can be checked)."""
    if not terms:
        return 0.0
    ev = squash(text)
    return sum(t.found_in(ev) for t in terms) / len(terms)


def _records(
    engine: Engine, code: str, date_from: dt.date | None, date_to: dt.date | None
) -> list[FilingSummary]:
    out = []
    for s in engine.filings():
        if s.code != code:
            continue
        if (date_from or date_to) and s.date is None:
            continue
        if date_from and s.date and s.date < date_from:
            continue
        if date_to and s.date and s.date > date_to:
            continue
        out.append(s)
    return sorted(out, key=lambda s: (s.date is None, s.date or dt.date.min, s.record_no))


def resolve_company(engine: Engine, company: str) -> str:
    """The stock code of an indexed company given by code, name or alias."""
    live = engine.live()
    code = live.resolver.lookup(company)
    if code is None or code not in live.resolver.indexed:
        named = [c for _, _, c in live.resolver.mentions(company) if c in live.resolver.indexed]
        code = named[0] if named else None
    if code is None:
        raise UnknownCompany(f"{company!r} is not an indexed company (irqa filings lists them)")
    return code


def _hits_by_record(engine: Engine, code: str, topic: str, records: list[FilingSummary], date_from, date_to):
    k = max(10, sum(s.passages for s in records))
    hits = engine.search(topic, k, company=code, date_from=date_from, date_to=date_to)
    by: dict[str, list[Hit]] = {}
    for h in hits:
        if h.passage.section != "header":  # the header table is who came, not what was said
            by.setdefault(h.passage.filing_id, []).append(h)
    return by


def _best_quote(hits: list[Hit], terms: Sequence[Term], p: TimelineParams) -> tuple[Hit, int, int] | None:
    """(hit, start, end) of the best sentence (spans in the filing text) among the record's best passages."""
    best: tuple[tuple, Hit, int, int] | None = None
    for rank, h in enumerate(hits[: p.passages_per_record]):
        pas = h.passage
        us = units(pas)
        q_cov = coverage(terms, pas.question)
        for i, u in enumerate(us):
            cov = coverage(terms, u.text)
            end, text = u.end, u.text
            nxt = us[i + 1] if i + 1 < len(us) else None
            if (
                nxt is not None
                and cov
                and coverage(terms, nxt.text)
                and len(text) + len(nxt.text) <= p.max_quote_chars
            ):
                end, text = nxt.end, pas.text[u.start : nxt.end]  # the next sentence goes on saying it
            key = (cov > 0 or q_cov > 0, cov, -rank, -u.order)
            if best is None or key > best[0]:
                best = (key, h, pas.start + u.start, pas.start + min(end, u.start + p.max_quote_chars))
    return None if best is None else best[1:]


def timeline(
    engine: Engine,
    company: str,
    topic: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    params: TimelineParams | None = None,
) -> Timeline:
    """Per record of ``company`` (oldest first) its best quote on ``topic``, or not discussed."""
    p = params or TimelineParams()
    topic = engine.check_question(topic)
    code = resolve_company(engine, company)
    name = engine.live().resolver.display_name(code)
    records = _records(engine, code, date_from, date_to)
    terms = topic_terms(engine, topic, code)
    by = _hits_by_record(engine, code, topic, records, date_from, date_to) if records else {}
    out = Timeline(
        company=name, code=code, topic=topic, date_from=date_from, date_to=date_to,
        terms=[t.label for t in terms], min_score=p.min_score,
    )  # fmt: skip
    previous: TimelineEntry | None = None
    n = 0
    for s in records:
        hits = by.get(s.id, [])

        def rank_of(h: Hit) -> float:
            return (h.dense or 0.0) + p.rank_weight * coverage(
                terms, h.passage.question + "\n" + h.passage.text
            )

        hits.sort(key=rank_of, reverse=True)
        entry = TimelineEntry(
            filing_id=s.id, record_no=s.record_no, date=s.date, discussed=False, quote="not discussed",
            score=0.0, similarity=0.0, coverage=0.0,
        )  # fmt: skip
        if hits:
            top = hits[0]
            cov = coverage(terms, top.passage.question + "\n" + top.passage.text)
            entry.similarity = round(top.dense or 0.0, 4)
            entry.coverage = round(cov, 4)
            entry.score = round(entry.similarity + p.term_weight * cov, 4)
            entry.discussed = entry.score >= p.min_score
        if entry.discussed:
            found = _best_quote(hits, terms, p)
            if found is None:
                entry.discussed = False
            else:
                hit, a, b = found
                n += 1
                c = Citation.quoting(n, hit, a, b)
                entry.citation, entry.quote, entry.question = c, c.quote, c.question
                _compare_to(entry, previous, [t.label for t in terms])
                previous = entry
        out.entries.append(entry)
    return out


# what changed -------------------------------------------------------------------------------

_CONFIDENT = ["供不应求", "确定性", "显著", "大幅", "快速增长", "持续增长", "高速增长", "乐观", "强劲", "旺盛",
              "加速", "领先", "充足", "顺利", "明确", "看好", "放量", "上量", "超预期"]  # fmt: skip
_CAUTIOUS = ["不确定", "不明确", "谨慎", "压力", "放缓", "下降", "下滑", "波动", "挑战", "风险", "有限", "暂时",
             "尚未", "还未", "不便", "延迟", "推迟", "短缺", "不及预期", "承压"]  # fmt: skip
_CAUTIOUS_RX = re.compile("|".join(map(re.escape, sorted(_CAUTIOUS, key=len, reverse=True))))
#: 没有看到需求推迟: a cautious word after a negation is no caution
_NEGATED = re.compile(r"(?:没有|没|未|无|不会|并未)\S{0,4}$")
_CONFIDENT_RX = re.compile("|".join(map(re.escape, sorted(_CONFIDENT, key=len, reverse=True))))


def tone_cues(text: str) -> list[str]:
    """'+word' for each confident cue, '−word' for each cautious one (不确定 is not 确定)."""
    cautious = [m.group() for m in _CAUTIOUS_RX.finditer(text) if not _NEGATED.search(text, 0, m.start())]
    rest = _CAUTIOUS_RX.sub("　", text)
    return [f"+{w}" for w in (m.group() for m in _CONFIDENT_RX.finditer(rest))] + [f"−{w}" for w in cautious]


def _tone(cues: list[str]) -> int:
    return sum(1 if c.startswith("+") else -1 for c in cues)


def _measure(f: Figure) -> str:
    """The words the figure's clause says before it (what it measures), compact."""
    return re.sub(r"\s+", "", f.before)[-12:]


def _label(f: Figure) -> str:
    """As printed, with the Q of a quarter (Q4, not 4)."""
    return f"Q{f.text}" if f.unit == "季度" and f.text.isdigit() else f.label


def _key(f: Figure) -> tuple[str, frozenset[str]] | None:
    named = frozenset(measures(f.before) | acronyms(f.before))
    return (f.unit, named) if named else None


def quote_figures(text: str, topic_terms_: Sequence[str] = ()) -> list[Figure]:
    """Figures with a unit or scale (capacity, share, growth, dates); bare numbers and the topic's
    own product names (the 1.6 of 1.6T) are left out."""
    own = {squash(t) for t in topic_terms_}
    out = []
    for f in figures(text):
        if not (f.unit or f.scaled) or (f.unit == "count" and f.value < 2):
            continue
        if any(squash(f.text) in o for o in own) or f.prefix.endswith("第"):
            continue  # the 1.6 of 1.6T; an ordinal (第二个问题)
        out.append(f)
    return out


def _compare_to(entry: TimelineEntry, previous: TimelineEntry | None, terms: Sequence[str]) -> None:
    now = quote_figures(entry.quote, terms)
    entry.figures = [_label(f) for f in now]
    entry.cues = tone_cues(entry.quote)
    if previous is None:
        return
    before = quote_figures(previous.quote, terms)
    seen = {(f.value, f.unit) for f in before}
    by_key = {}
    for f in before:
        k = _key(f)
        if k is not None:
            by_key.setdefault(k, f)
    for f in now:
        if (f.value, f.unit) in seen:
            continue
        k = _key(f)
        old = by_key.get(k) if k else None
        if old is not None:
            entry.changes.append(
                FigureChange(kind="changed", measure=_measure(f), value=_label(f), previous=_label(old))
            )
        else:
            entry.changes.append(FigureChange(kind="new", measure=_measure(f), value=_label(f)))
    t_now, t_before = _tone(entry.cues), _tone(previous.cues)
    entry.tone = "more confident" if t_now > t_before else "less confident" if t_now < t_before else "same"


# comparing companies ------------------------------------------------------------------------


def compare(
    engine: Engine,
    companies: Sequence[str],
    topic: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    per_company: int = 2,
    params: TimelineParams | None = None,
) -> Comparison:
    """Per company its ``per_company`` best quotes on ``topic`` (highest score first), numbered
    across the whole comparison."""
    out = Comparison(topic=engine.check_question(topic))
    n = 0
    for company in companies:
        t = timeline(engine, company, topic, date_from, date_to, params)
        best = sorted(t.discussed, key=lambda e: e.score, reverse=True)[:per_company]
        quotes = []
        for e in sorted(best, key=lambda e: (e.date is None, e.date or dt.date.min)):
            assert e.citation is not None
            n += 1
            quotes.append(e.citation.model_copy(update={"n": n}))
        out.companies.append(
            CompanyQuotes(
                company=t.company,
                code=t.code,
                records=len(t.entries),
                discussed=len(t.discussed),
                quotes=quotes,
            )
        )
    return out


# questions that ask for a timeline or a comparison ------------------------------------------


class TimelineRequest(BaseModel):
    """What :func:`detect` read from a question."""

    kind: Literal["timeline", "compare"]
    codes: list[str]
    topic: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None


_COMPARE = re.compile(r"\bcompare\b|\bcomparison\b|\bversus\b|\bvs\.?(?=\s)|对比|比较|相比|异同|区别", re.I)
_OVER_TIME_ZH = re.compile(
    r"历次|历年|各次|每次|多次|历来|一直以来|时间线|前后|先后"
    r"|(?:表述|说法|看法|观点|口径|态度|判断|描述|提法|展望|预期|预判|指引)\S{0,4}(?:变化|演变|改变|调整|变动)"
)
_OVER_TIME_EN = re.compile(
    r"\bover time\b|\btimeline\b|\bacross (?:its |the |all )?(?:records|meetings|calls|filings)\b"
    r"|\b(?:view|views|stance|tone|outlook|messaging|guidance|statements?|comments?|narrative|account"
    r"|description|position|expectations?)\b.{0,60}\b(?:change|changed|changes|evolve|evolved|shift|shifted"
    r"|move|moved|develop|developed)\b"
    r"|\b(?:change|changed|evolve|evolved|shift|shifted)\b.{0,20}\bover\b",
    re.I,
)
_YEARS = re.compile(r"(20\d\d)\s*年?\s*(?:[–—\-~～至到]|to|and|through|until)\s*(20\d\d)\s*年?", re.I)
_SINCE = re.compile(r"(?:since|from|自|从)\s*(20\d\d)\s*年?(?:以来|起)?|(20\d\d)\s*年(?:以来|起)", re.I)
_YEAR_ONE = re.compile(r"(?<!\d)(20\d\d)(?!\d)\s*年?")
_TOPIC_ZH = [
    re.compile(
        r"(?:对|关于|就|在)(?P<t>[^对在和与及　]+?)(?:的|方面的|上的|方面|上)(?:表述|说法|看法|观点|口径|态度|判断|描述|提法|展望|预期|预判|指引|表态|介绍)"
    ),
    re.compile(r"(?:关于|对于|对|就)(?P<t>[^对在和与及　]+?)(?:有何|有什么|如何|怎么|怎样|的)"),
    re.compile(r"(?:在|就)(?P<t>[^对在和与及　]+?)(?:上|方面)"),
]
_TOPIC_EN = [
    re.compile(
        r"\b(?:view|views|stance|tone|outlook|messaging|guidance|statements?|comments?|narrative|account|description"
        r"|position|expectations?|take)\s+(?:of|on|about|regarding|for)\s+(?P<t>.+?)"
        r"(?=\s+(?:change|changed|changes|evolve|evolved|shift|shifted|move|moved|develop|developed|over|between|from|"
        r"in|across|since|during)\b|[?？!]|\.(?!\d)|$)",
        re.I,
    ),
    re.compile(
        r"\b(?:say|said|says|talk|talked|report|reported|comment|commented)\s+(?:about|on)\s+(?P<t>.+?)"
        r"(?=\s+(?:over|between|from|in|across|since|during|change)\b|[?？!]|\.(?!\d)|$)",
        re.I,
    ),
    re.compile(
        r"\b(?:on|about|regarding|over)\s+(?P<t>.+?)(?=\s+(?:over|between|from|in|across|since|during)\b|[?？!]|\.(?!\d)|$)",
        re.I,
    ),
]
_STRIP_ZH = re.compile(
    r"历次|历年|各次|每次|多次|调研|活动|记录|纪要|交流|会议|中|公司|表述|说法|看法|观点|口径|态度|判断|描述|提法|"
    r"有何|有什么|有哪些|如何|怎么|怎样|变化|演变|改变|调整|变动|对比|比较|相比|一下|请|的|对|关于|和|与|及|在|上|方面|"
    r"是|了|吗|呢|[？?。，,、！!：:（）()\s]"
)
_STRIP_EN = re.compile(
    r"\b(?:how|did|does|do|has|have|what|compare|and|the|of|on|about|view|views|change|changed|over|between|"
    r"its|their|'s|s|in|to|from|say|said|statements?|time|records?)\b|[?？.,!’']",
    re.I,
)


def _dates(q: str) -> tuple[dt.date | None, dt.date | None, str]:
    """A period the question names (2024–2025, since 2024, in 2025), and the question without it."""
    m = _YEARS.search(q)
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return dt.date(a, 1, 1), dt.date(b, 12, 31), q[: m.start()] + " " + q[m.end() :]
    m = _SINCE.search(q)
    if m:
        y = int(m.group(1) or m.group(2))
        return dt.date(y, 1, 1), None, q[: m.start()] + " " + q[m.end() :]
    return None, None, q


def _clean_topic(t: str) -> str:
    t = re.sub(r"^(?:'s|’s|的)\s*", "", t.strip())
    t = re.sub(r"^(?:its|their|the company's)\s+", "", t, flags=re.I)
    t = re.sub(r"\b(?:over|in|during|across)\s*$", "", t, flags=re.I)
    return t.strip(" \t?？。.,，、的")


def detect(engine: Engine, question: str, company: str | None = None) -> TimelineRequest | None:
    """The timeline or comparison a question asks for, else None (the question is answered as usual).

    A timeline needs a cue that it is about the records over time (历次, 表述有何变化, "how did …'s
    view of … change", "over time") and one indexed company (named, or the ``company`` filter); a
    comparison needs a compare cue (compare, 对比, 比较) and two or more named companies.
    """
    q = question.strip()
    if not q or len(q) > 300:
        return None
    live = engine.live()
    spans = [(a, b, c) for a, b, c in live.resolver.mentions(q) if c in live.resolver.indexed]
    codes = list(dict.fromkeys(c for _, _, c in spans))
    if company and not codes:
        code = live.resolver.lookup(company)
        codes = [code] if code and code in live.resolver.indexed else []
    compare_ = bool(_COMPARE.search(q)) and len(codes) >= 2
    over_time = bool(_OVER_TIME_ZH.search(q) or _OVER_TIME_EN.search(q))
    if not (compare_ or (over_time and len(codes) >= 1)):
        return None
    date_from, date_to, rest = _dates(q)
    masked = rest
    for a, b, _ in sorted(((a, b, c) for a, b, c in live.resolver.mentions(rest)), reverse=True):
        masked = masked[:a] + "　" + masked[b:]
    topic = ""
    for rx in _TOPIC_ZH if re.search(r"[\u4e00-\u9fff]{2}", _STRIP_EN.sub("", masked)) else []:
        m = rx.search(masked)
        if m and _clean_topic(m.group("t").replace("　", "")):
            topic = _clean_topic(m.group("t").replace("　", ""))
            break
    if not topic:
        for rx in _TOPIC_EN:
            m = rx.search(masked)
            if m and _clean_topic(m.group("t").replace("　", "")):
                topic = _clean_topic(m.group("t").replace("　", ""))
                break
    if not topic:
        topic = _clean_topic(_STRIP_EN.sub(" ", _STRIP_ZH.sub(" ", masked.replace("　", " "))))
        topic = re.sub(r"\s+", " ", topic)
    topic = re.sub(r"[\s　]+", " ", _YEAR_ONE.sub(" ", topic) if date_from else topic).strip(" 的")
    topic = re.sub(r"^(?:and|和|与)\s+", "", topic)
    if not topic:
        return None
    kind: Literal["timeline", "compare"] = "compare" if compare_ else "timeline"
    return TimelineRequest(
        kind=kind, codes=codes if compare_ else codes[:1], topic=topic, date_from=date_from, date_to=date_to
    )


def _when(e: TimelineEntry) -> str:
    return f"{e.date.isoformat() if e.date else 'undated'} ({e.record_no or e.filing_id})"


def answer_of(engine: Engine, req: TimelineRequest, question: str, qid: str | None = None) -> Answer:
    """The request answered as an ``Answer``: one cited sentence per record (timeline) or per
    company's best quotes (comparison); records that do not discuss the topic are named after."""
    if req.kind == "compare":
        comp = compare(engine, req.codes, req.topic, req.date_from, req.date_to)
        citations = [c for cq in comp.companies for c in cq.quotes]
        parts = []
        for cq in comp.companies:
            if cq.quotes:
                parts.append(
                    f"{cq.company}: "
                    + " ".join(f"{c.date or 'undated'}：{c.quote}[{c.n}]" for c in cq.quotes)
                )
            else:
                parts.append(f"{cq.company}: no record discusses {req.topic} ({cq.records} records).")
        text = "\n".join(parts)
    else:
        t = timeline(engine, req.codes[0], req.topic, req.date_from, req.date_to)
        citations = [e.citation for e in t.discussed if e.citation is not None]
        lines = [f"{t.company} on {t.topic}, record by record:"]
        lines += [f"{_when(e)}：{e.quote}[{e.citation.n}]" for e in t.discussed if e.citation is not None]
        silent = [e for e in t.entries if not e.discussed]
        if silent:
            lines.append(
                f"(Not discussed in {len(silent)} of {len(t.entries)} records: "
                + ", ".join(_when(e) for e in silent)
                + ".)"
            )
        text = "\n".join(lines)
    if not citations:
        return Answer(
            id=qid, question=question, answer=f"No indexed record discusses {req.topic}.", abstained=True
        )
    return Answer(
        id=qid, question=question, answer=text, abstained=False, citations=citations, company=req.codes[0]
    )


def route(
    engine: Engine,
    question: str,
    company: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    qid: str | None = None,
) -> Answer | None:
    """The answer to a timeline or comparison question ("历次调研对1.6T的表述有何变化"), else None:
    what ``/v1/ask`` and chat call before the usual answer."""
    import time

    t0 = time.perf_counter()
    req = detect(engine, engine.check_question(question), company)
    if req is None:
        return None
    if company:
        code = engine.live().resolver.lookup(company)
        if code is None or any(c != code for c in req.codes):
            return None  # the filter and the question disagree: the usual refusal explains it
    req.date_from = date_from or req.date_from
    req.date_to = date_to or req.date_to
    answer = answer_of(engine, req, question, qid)
    answer.timings_ms = {
        "timeline": (time.perf_counter() - t0) * 1000,
        "total": (time.perf_counter() - t0) * 1000,
    }
    return answer
