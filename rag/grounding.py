"""The grounding check: a generated sentence is served only when the passages it cites hold it.

A language model given numbered passages can still invent a figure, move a number to the wrong
company, or cite nothing. Each sentence of its reply is checked on its own:

- it cites at least one passage it was given (``[n]`` markers, ``n`` among the given numbers);
- every number in it (amounts, percentages, counts, dates; Arabic digits, Chinese numerals before
  a unit such as 两家/第三季度, English number and month words) is a figure a cited passage
  states (``irqa.rag.figures``): the same value × scale in the same unit (7元 is not 7亿元, nor
  7%), on the same per-share basis (每10股 7元 is not a 7元 total), for the same measure (the
  营业收入/净利润/现金红利, period, region or segment named before the number must be named
  before the passage's number) and not in the opposite direction (增长 vs 下降). Header fields
  (证券代码, 编号, the record's date) hold dates and codes as printed, never an amount: the code
  002415 is not evidence for "2415元";
- it does not deny what a cited passage states (没有/未/不/无/no/not + a phrase the passage
  states only positively: "没有分红预案" against "分红预案是…"), nor state what the passages
  only deny ("与Open AI合作" against "没有跟 Open AI 合作");
- every named entity in it (Latin proper nouns and acronyms, jieba's person/place/organization
  names, company names from the alias table) occurs in a cited passage, its header facts or its
  company's names — and a company it names is the company of a cited passage;
- it carries no URL, e-mail address, HTML or markdown image/link, whatever the passages hold,
  and does not urge the reader to act (请立即访问/联系客服/购买, click here):
  ``irqa.rag.injection``. A generated answer reports what a filing says; links and calls to
  action are what an injected instruction wants served;
- its wording is the passages': a sentence with no number is still a claim, so at least 60% of
  its content words (jieba's nouns, verbs, adjectives; English words through the glossary or
  as printed; half for a sentence whose figures passed) occur in the cited passages, and at
  least one thing it says (a word, a figure, a name) does; a word-for-word quote always does.
  "请立即联系我们的客服购买" against a passage about chips is refused. This catches invented
  statements, not reworded ones: "大幅提高了分红" against a passage that only names 分红 is
  refused for 大幅提高, but a claim that reuses the passage's words in another sense can pass.

Passages are checked as data: a paragraph of a passage that addresses a language model
(忽略以上指令…, ``irqa.rag.injection.as_data``) is no evidence for anything, so the figure or
claim an injected paragraph dictates is refused like an invented one.

Sentences that fail are not served; they are reported verbatim. Equalities are accepted only
where arithmetic proves them ("1.2亿元" = "12000万元" = "120 million yuan"); anything else the
passage does not print ("0.18" for "18%", "65.6亿" for "65.55亿") fails, which costs a sentence,
never trust.

Example::

    >>> from irqa.rag.analysis import Analyzer
    >>> src = {1: Source(1, passage, names=("虹软科技", "ArcSoft"))}  # passage: any ArcSoft passage
    >>> check_sentence("ArcSoft's video features raised revenue 87.3% [1].", src, tag=Analyzer().tags).ok
    False
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from irqa.rag.analysis.stopwords import MONTHS_EN, NOT_NAMES_EN, TOPIC_STOP_EN, TOPIC_STOP_ZH
from irqa.rag.evidence import Term, squash, synonyms
from irqa.rag.figures import CLAUSE_END, PERIODS, Figure, figures, header_figures, measures, supports
from irqa.rag.figures import CN_NUMERAL as _CN_NUMERAL
from irqa.rag.figures import CN_UNIT_AFTER as _CN_UNIT_AFTER
from irqa.rag.figures import EN_NUMBERS as _EN_NUMBERS
from irqa.rag.figures import cn_value as _cn_value
from irqa.rag.glossary import glossary
from irqa.rag.ingest.chunk import sentence_spans
from irqa.rag.injection import as_data, solicitations, unsafe_markup
from irqa.rag.models import Passage, Span

#: ``(start, end, stock code)`` of every company a text names (``Engine.mentions``)
Mentions = Callable[[str], list[tuple[int, int, str]]]
#: ``(word, part-of-speech flag)`` of a text: the index's ``Analyzer.tags``
Tagger = Callable[[str], list[tuple[str, str]]]

_MARKERS = re.compile(r"\[\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*\]|【(\d+)】")
# a sentence ends at CJK end punctuation, or at . ! ? followed by a space, a marker or the end;
# the citation markers right after the end belong to the sentence ("… power draw. [1][2]")
_END = re.compile(
    r"(?:[。！？!?]+|\.(?=\s|\[|$))[”’」』）)\"']*(?:\s*(?:\[\s*\d+(?:\s*[,，、]\s*\d+)*\s*\]|【\d+】))*"
)
_PARTIAL_MARKER = re.compile(r"[\[【\d\s,，、\]】]*")  # "[", "[1", "[1][": markers still arriving
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|\(\d+\))\s+")
_NUMBER = re.compile(r"(?<![\d.])\d+(?:,\d{3})*(?:\.\d+)?")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&'’\-]*[A-Za-z0-9]|[A-Za-z]")
_CURRENCY_WORDS = {"rmb", "cny", "usd", "hkd", "eur", "jpy"}  # units, checked with their numbers
_ENTITY_FLAGS = ("nr", "ns", "nt", "nz")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Source:
    """A passage given to the model as ``[n]``, with the names its company goes by."""

    n: int
    passage: Passage
    names: tuple[str, ...] = ()

    @property
    def facts(self) -> str:
        """What the company said, and the record's header facts (numbers come from these two
        alone, the header's only as dates and codes: see ``_held``).

        The investor's question is left out: a figure an investor suggests is not a disclosure.
        """
        p = self.passage
        date = [p.date.isoformat(), f"{p.date.year}年{p.date.month}月{p.date.day}日"] if p.date else []
        return "\n".join([p.text, p.title, p.company, p.code, p.record_no, *date])

    @property
    def evidence(self) -> str:
        """Everything a name may rest on: the facts, the question answered, the company's names."""
        return "\n".join([self.facts, self.passage.question, *self.names])


@dataclass
class Checked:
    """One sentence of a reply and the verdict on it."""

    raw: str  # verbatim, as the model wrote it (markers included)
    text: str  # without its citation markers
    cites: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.cites) and not self.problems


# sentences ------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """A reply cut into sentences, each keeping the citation markers that follow it."""
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        pos = 0
        for m in _END.finditer(line):
            piece = line[pos : m.end()].strip()
            if piece:
                out.append(piece)
            pos = m.end()
        if line[pos:].strip():
            out.append(line[pos:].strip())
    # a run of markers on its own (the model put them after a line break) joins the sentence before
    merged: list[str] = []
    for s in out:
        if merged and not _MARKERS.sub("", s).strip(" .。"):
            merged[-1] = f"{merged[-1]}{s}"
        else:
            merged.append(s)
    return merged


class SentenceStream:
    """Sentences out of a token stream, each released once the text after it has begun."""

    def __init__(self) -> None:
        self._buf = ""

    def feed(self, chunk: str) -> list[str]:
        self._buf += chunk
        parts = split_sentences(self._buf)
        # the last sentence may still grow (more words, or its citation markers); a line break
        # or a further sentence after it closes the ones before
        if len(parts) <= 1 or _PARTIAL_MARKER.fullmatch(parts[-1]):
            return []
        done, last = parts[:-1], parts[-1]
        tail = self._buf.rstrip()
        cut = tail.rfind(last)
        self._buf = tail[cut:] if cut >= 0 else last
        return done

    def flush(self) -> list[str]:
        parts, self._buf = split_sentences(self._buf), ""
        return parts


def markers(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order, once each."""
    found: list[int] = []
    for m in _MARKERS.finditer(sentence):
        for x in re.split(r"[,，、]", m.group(1) or m.group(2)):
            n = int(x)
            if n not in found:
                found.append(n)
    return found


def strip_markers(sentence: str) -> str:
    return re.sub(r"\s+([.。,，;；!?！？])", r"\1", _MARKERS.sub("", sentence)).strip()


# claims ---------------------------------------------------------------------------------------


def _norm_number(s: str) -> str:
    s = s.replace(",", "")
    try:
        return format(Decimal(s).normalize(), "f")
    except InvalidOperation:
        return s


def numbers(text: str, *, lenient: bool = False) -> set[str]:
    """The numbers a text states, normalized ("1,200.50" → "1200.5", "08" → "8", 两家 → "2").

    ``lenient`` (for evidence) reads every Chinese numeral run; in a claim only runs before a
    unit count (一些/统一 are words, 两家/第三季度 are numbers).
    """
    text = _MARKERS.sub(" ", text)
    found = {_norm_number(m.group()) for m in _NUMBER.finditer(text)}
    for m in _CN_NUMERAL.finditer(text):
        after = text[m.end() : m.end() + 1]
        if lenient or (after and _CN_UNIT_AFTER.match(after)) or len(m.group()) > 1:
            v = _cn_value(m.group())
            if v is not None:
                found.add(str(v))
    if not lenient:
        for w in re.findall(r"[A-Za-z]+", text):
            lw = w.lower()
            if lw in _EN_NUMBERS:
                found.add(str(_EN_NUMBERS[lw]))
            elif lw in MONTHS_EN and (w[0].isupper() or lw not in ("may", "march")):
                found.add(str(MONTHS_EN[lw]))
    return found


def entities(text: str, tag: Tagger) -> set[str]:
    """Proper nouns a sentence asserts: Latin names/acronyms and Chinese names ``tag`` marks as
    person/place/organization/other proper nouns."""
    text = _MARKERS.sub(" ", text)
    found: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for i, m in enumerate(_LATIN_WORD.finditer(sentence)):
            w = m.group().strip("'’-")
            lw = w.lower()
            if lw in NOT_NAMES_EN or lw in _EN_NUMBERS or lw in MONTHS_EN or lw in _CURRENCY_WORDS:
                continue
            if len(w) == 1 or re.fullmatch(r"[QH]\d", w):  # a letter; Q3/H1 are numbers, checked as such
                continue
            capital = any(c.isupper() for c in w[1:]) or any(c.isdigit() for c in w)
            if capital or (w[0].isupper() and i > 0):
                found.add(re.sub(r"(?:'s|’s)$", "", w))
    if re.search(r"[\u4e00-\u9fff]", text):
        for word, flag in tag(text):
            if len(word) >= 2 and flag.startswith(_ENTITY_FLAGS) and re.search(r"[\u4e00-\u9fff]", word):
                found.add(word)
    return found


def _translations(term: str) -> list[str]:
    """A term and its Chinese glossary renderings (an English "R&D" may rest on 研发)."""
    return [term, *glossary().get(term.lower(), [])]


# the check ------------------------------------------------------------------------------------


def check_sentence(
    raw: str, sources: dict[int, Source], mentions: Mentions | None = None, *, tag: Tagger
) -> Checked:
    """Whether ``raw`` cites given passages and every number and name in it occurs in them."""
    text = strip_markers(raw)
    cites = markers(raw)
    out = Checked(raw=raw, text=text, cites=cites)
    if not cites:
        out.problems.append("cites no passage")
        return out
    unknown = [n for n in cites if n not in sources]
    if unknown:
        out.problems.append(f"cites passages it was not given: {unknown}")
        return out
    out.problems += _markup_problems(text)
    cited = [_as_data(sources[n]) for n in cites]
    evidence = "\n".join(s.evidence for s in cited)
    low_evidence = evidence.lower()
    out.problems += _figure_problems(text, cited)
    out.problems += _polarity_problems(text, [s.passage.text for s in cited], tag)
    covered: list[tuple[int, int]] = []
    codes = {s.passage.code for s in cited}
    for a, b, code in mentions(text) if mentions else []:
        if code in codes:
            covered.append((a, b))
        else:
            out.problems.append(f"names a company none of the cited passages is about: {text[a:b]}")
    names = [e for e in entities(text, tag) if not _inside(text, e, covered)]
    absent = sorted(
        e for e in names if not any(t.lower() in low_evidence for t in _translations(e) if t.strip())
    )
    if absent:
        out.problems.append(f"names not in the cited passages: {absent}")
    skip = [text[a:b] for a, b in covered] + [n for c in cited for n in (*c.names, c.passage.company)]
    out.problems += _wording_problems(text, cited, skip, len(figures(text)), len(names), tag=tag)
    return out


# injected text, links, markup, unsupported wording --------------------------------------------

#: below this share of its content words in the cited passages, a sentence is not theirs; a
#: sentence whose figures the passages hold (value, unit, measure) is anchored, so half will do
#: (an English sentence's glossary words often miss the passage's wording: "shareholders" for 归母)
MIN_WORDING = 0.6
MIN_WORDING_WITH_FIGURES = 0.5
#: Chinese words that report rather than claim (虹软表示…, 此外…)
_REPORTING_ZH = frozenset(
    {
        "表示",
        "指出",
        "称",
        "称为",
        "回应",
        "回答",
        "答复",
        "透露",
        "强调",
        "说明",
        "谈到",
        "提及",
        "介绍",
        "提到",
        "认为",
        "问题",
        "投资者",
        "记录",
        "活动",
        "据悉",
        "此外",
        "另外",
        "同时",
        "其中",
        "因此",
        "所以",
        "以及",
        "方面",
        "具体",
        "包括",
    }
)
_WORDING_FLAGS = ("n", "v", "a", "i", "l", "j")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9&\-]*")


def _as_data(source: Source) -> Source:
    """``source`` with its instruction-like paragraphs blanked (passage text and question)."""
    p = source.passage
    text, question = as_data(p.text), as_data(p.question)
    if text is p.text and question is p.question:
        return source
    return Source(source.n, p.model_copy(update={"text": text, "question": question}), source.names)


def _markup_problems(text: str) -> list[str]:
    problems = []
    if found := unsafe_markup(text):
        problems.append(f"holds a link or markup, which a generated answer never serves: {found}")
    if urged := solicitations(text):
        problems.append(f"urges the reader to act, which a generated answer never does: {urged}")
    return problems


@lru_cache(maxsize=1)
def _glossary_phrases() -> re.Pattern[str]:
    terms = sorted((t for t in glossary() if t not in TOPIC_STOP_EN), key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, terms)) + r")(?![a-z0-9])")


def wording(text: str, cited: list[Source], skip: list[str], *, tag: Tagger) -> tuple[list[str], list[str]]:
    """The content words of ``text`` that the cited passages hold, and those they do not.

    Chinese: jieba's nouns, verbs, adjectives and idioms of two characters or more, less question
    and reporting words (表示, 此外); a word counts as held in any of its synonyms' forms, or, when
    long, with all but one of its character pairs (``irqa.rag.evidence.Term``). English: glossary
    phrases by their Chinese renderings, other words as printed; a word with neither, against
    Chinese passages, is neither held nor absent (it cannot be checked). ``skip`` holds company
    names, which the name check covers.
    """
    ev = squash("\n".join(s.evidence for s in cited))
    body = "".join(s.passage.text for s in cited)
    cjk, latin = len(_CJK.findall(body)), len(re.findall(r"[A-Za-z]", body))
    chinese = cjk >= latin  # English words are checked as printed only against English passages
    t = _MARKERS.sub(" ", text)
    for name in sorted(skip, key=len, reverse=True):
        if name.strip():
            t = re.sub(re.escape(name), " ", t, flags=re.IGNORECASE)
    held: list[str] = []
    absent: list[str] = []
    low = t.lower()
    taken = [False] * len(low)
    for m in _glossary_phrases().finditer(low):
        taken[m.start() : m.end()] = [True] * (m.end() - m.start())
        forms = [squash(f) for f in (m.group(1), *glossary().get(m.group(1), []))]
        (held if any(f and f in ev for f in forms) else absent).append(m.group(1))
    for m in _LATIN_RUN.finditer(t):
        w = m.group().lower().strip("-")
        if any(taken[m.start() : m.end()]) or len(w) < 3 or re.search(r"\d", w):
            continue  # glossary phrases are counted; 4K60-like tokens are figures or names
        if w in TOPIC_STOP_EN or w in NOT_NAMES_EN or w in _EN_NUMBERS or w in MONTHS_EN:
            continue
        if squash(w) in ev:
            held.append(w)
        elif not chinese:
            absent.append(w)
    runs = " ".join(_CJK_WORD.findall(t))
    for word, flag in tag(runs) if runs else []:
        if len(word) < 2 or not _CJK_WORD.fullmatch(word) or not flag.startswith(_WORDING_FLAGS):
            continue
        if word in TOPIC_STOP_ZH or word in _REPORTING_ZH:
            continue
        (held if Term(word, synonyms().get(word, (word,))).found_in(ev) else absent).append(word)
    return held, absent


def _wording_problems(
    text: str, cited: list[Source], skip: list[str], n_figures: int, n_names: int, *, tag: Tagger
) -> list[str]:
    """A sentence whose words the cited passages do not hold: too few of its content words
    (:data:`MIN_WORDING`; a sentence whose figures were checked needs only half), or nothing at
    all it says (its figures and names count, checked elsewhere)."""
    if squash(text) in squash("\n".join(s.passage.text for s in cited)):
        return []  # a quote: the passage says it word for word
    held, absent = wording(text, cited, skip, tag=tag)
    if not held and not n_figures and not n_names:
        return [
            f"says nothing the cited passages say: {sorted(set(absent))}"
            if absent
            else "states nothing to check"
        ]
    bar = MIN_WORDING_WITH_FIGURES if n_figures else MIN_WORDING
    if absent and len(held) / (len(held) + len(absent)) < bar:
        share = f"{len(held)} of {len(held) + len(absent)} held"
        return [f"words not in the cited passages: {sorted(set(absent))} ({share})"]
    return []


def _held(source: Source) -> list[Figure]:
    """The figures a cited passage holds: its text's, and its header's (never evidence for amounts)."""
    p = source.passage
    date = [p.date.isoformat(), f"{p.date.year}年{p.date.month}月{p.date.day}日"] if p.date else []
    header = [p.title, p.company, p.code, p.record_no, *date, *source.names]  # Insta360's 360 is a name
    return figures(p.text, lenient=True) + header_figures(header)


def _figure_problems(text: str, cited: list[Source]) -> list[str]:
    """Each number of the sentence against the cited passages' figures: value × scale, unit,
    per-share basis, direction and what it measures (``irqa.rag.figures.supports``)."""
    held = [f for s in cited for f in _held(s)]
    names = [n for s in cited for n in (*s.names, s.passage.company)]
    missing: list[str] = []
    misread: list[str] = []
    for claim in figures(text):
        reasons = [supports(h, claim, names) for h in held]
        if None in reasons:
            continue
        near = [r for r in reasons if r != "value"]
        if not near:
            missing.append(claim.label)
        else:
            misread.append(f"{claim.label}: {next((r for r in near if not r.startswith('unit')), near[0])}")
    problems = []
    # a period is a claim even without an amount: "shipping in Q4" against 第三季度, H2 against 上半年
    said = measures("\n".join(f"{s.passage.title}\n{s.passage.text}" for s in cited))
    periods = sorted((measures(text) & PERIODS) - said)
    if periods:
        problems.append(f"periods not in the cited passages: {periods}")
    if missing:
        problems.append(f"numbers not in the cited passages: {missing}")
    if misread:
        problems.append(f"numbers the cited passages do not state this way: {misread}")
    return problems


# negation -------------------------------------------------------------------------------------


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


#: negators, as jieba tokens (so 不断, 未来, 无人机, 非常 are not negations)
_NEG_ZH = _words(
    "不 没 没有 未 无 非 并未 尚未 并不 并没有 不会 不是 未能 暂无 暂未 从未 毫无 未曾 并非 不再 无法 "
    "不能 并无 均未 均无 未有 从不 别无 不曾 不予 无需 不必 还没 还没有 尚无"
)
_NEG_FIRST = re.compile(f"[{''.join(sorted({w[0] for w in _NEG_ZH}))}]")
_NEG_EN = re.compile(
    r"(?<![A-Za-z])(?:no|not|never|none|without|neither|nor|cannot|[a-z]+n[’']t)(?![A-Za-z])", re.I
)
#: words between a negator and what it denies (没有任何…, 未进行…, has not paid a …)
_LIGHT = _words(
    "有 任何 什么 太 很 再 会 能 过 了 到 在 将 去 进行 提出 实施 开展 发生 存在 做 作 出现 一个 还 也 都 "
    "a an the any yet currently also only have has had be been being is are was were do does did to "
    "pay paid propose proposed announce announced declare declared distribute distributed issue issued "
    "offer offered make made provide provided"
)
_CONTENT_FLAGS = ("n", "v", "a", "j", "l", "i", "eng")


@dataclass
class _Polarity:
    """A text's negations: the spans they cover, and the phrases they deny."""

    text: str
    regions: list[tuple[int, int]] = field(default_factory=list)
    denied: list[tuple[str, str, str]] = field(default_factory=list)  # (negator, phrase, head word)

    def negated(self, pos: int) -> bool:
        return any(a <= pos < b for a, b in self.regions)

    def occurrences(self, phrase: str) -> list[int]:
        """Where the phrase occurs, spaces aside ("Open AI 合作" is "与Open AI合作"'s too)."""
        chars = [c for c in phrase.lower() if not c.isspace()]
        if not chars:
            return []
        pattern = r"\s*".join(map(re.escape, chars))
        return [m.start() for m in re.finditer(pattern, self.text.lower())]

    def states(self, phrase: str) -> bool:
        """The phrase occurs, never inside a negation: the text states it positively."""
        hits = self.occurrences(phrase)
        return bool(hits) and not any(self.negated(i) for i in hits)

    def only_denies(self, phrase: str) -> bool:
        hits = self.occurrences(phrase)
        return bool(hits) and all(self.negated(i) for i in hits)


def _clause_end(text: str, pos: int) -> int:
    m = CLAUSE_END.search(text, pos)
    return m.start() if m else len(text)


def _light(t: tuple[str, str, int]) -> bool:
    """A token between a negator and what it denies: a light verb, adverb, pronoun, particle,
    number, time word or measure word (没有|任何|分红, 未|提出|2022|年|分红)."""
    return t[0] in _LIGHT or not t[0].strip() or t[1][:1] in ("d", "r", "u", "m", "t", "q")


def _polarity(text: str, tag: Tagger) -> _Polarity:
    """Where ``text`` negates, and what: a negator covers the rest of its clause; the phrase it
    denies is the run of (at most three) content words right after it (没有|分红预案, 暂无|回购计划,
    未提出2022年|分红预案: light verbs, numbers and adverbs skipped)."""
    out = _Polarity(text)
    toks: list[tuple[str, str, int]] = []
    start = 0
    # only clauses with a negator's first character are tagged: a passage's other clauses cannot
    # negate, and tagging whole passages for every sentence checked would cost the most
    for m in [*CLAUSE_END.finditer(text), None]:
        end = m.end() if m else len(text)
        clause, pos = text[start:end], start
        if _NEG_FIRST.search(clause):
            for w, f in tag(clause):
                i = text.find(w, pos)
                i = pos if i < 0 else i
                toks.append((w, f, i))
                pos = i + len(w)
        start = end
    for k, (w, _f, i) in enumerate(toks):
        if w not in _NEG_ZH:
            continue
        end = _clause_end(text, i + len(w))
        out.regions.append((i + len(w), end))
        j = k + 1
        while j < len(toks) and toks[j][2] < end and _light(toks[j]):
            j += 1
        obj = -1  # 没有跟 Open AI 合作: the verb is denied, of its object ("Open AI 合作")
        if j < len(toks) and toks[j][1].startswith("p"):
            obj = toks[j + 1][2] if j + 1 < len(toks) else -1
            j = next(
                (x for x in range(j + 1, min(j + 7, len(toks))) if toks[x][1].startswith("v")), len(toks)
            )
        run: list[tuple[str, str, int]] = []
        while j < len(toks) and toks[j][2] < end and len(run) < 3:
            t = toks[j]
            if not t[0].strip() and run:
                j += 1
                continue
            if t[0] in _LIGHT or not t[1].startswith(_CONTENT_FLAGS) or t[0] in _NEG_ZH:
                break
            run.append(t)
            j += 1
        if run:
            # the whole run, not its last noun alone: 不再扩大人员编制 denies the expansion, while
            # the passage may well name 人员编制 as its topic
            stop = run[-1][2] + len(run[-1][0])
            phrase = text[run[0][2] : stop].strip()
            if len(phrase) >= 2:
                out.denied.append((w, phrase, run[0][0]))
            if 0 <= obj < run[0][2]:
                out.denied.append((w, text[obj:stop].strip(), run[0][0]))
    for m in _NEG_EN.finditer(text):
        if re.match(r"\s+only\b", text[m.end() :], re.I):  # "not only … but also" affirms
            continue
        end = _clause_end(text, m.end())
        out.regions.append((m.end(), end))
        words = [w for w in re.finditer(r"[A-Za-z][A-Za-z&'’-]*", text[m.end() : end])]
        words = [w for w in words if w.group().lower() not in _LIGHT]
        if words:
            head = words[0].group()
            phrase = " ".join(w.group() for w in words[:3])
            out.denied.append((m.group(), head, head))
            for n in (3, 2):
                key = " ".join(w.group().lower() for w in words[:n])
                if len(words) >= n and key in glossary():
                    out.denied.append((m.group(), phrase, key))
                    break
    return out


def _renderings(term: str) -> list[str]:
    """A denied or stated term in every form a passage may print it: itself and, for an English
    term, its glossary renderings (dividend → 分红, 现金红利)."""
    return [term, *glossary().get(term.lower(), [])]


def _polarity_problems(text: str, passages: list[str], tag: Tagger) -> list[str]:
    """A sentence that denies what the cited passages state (海康威视没有分红预案 against 分红预案是
    每10股派发现金红利7元), or states what they only deny (有回购计划 against 暂无回购计划)."""
    claim = _polarity(text, tag)
    cited = [_polarity(p, tag) for p in passages]
    whole = _Polarity("\n".join(passages))
    shift = 0
    for c in cited:  # the passages' negations, in the joined text
        whole.regions += [(a + shift, b + shift) for a, b in c.regions]
        whole.denied += c.denied
        shift += len(c.text) + 1
    problems: list[str] = []
    for neg, phrase, head in claim.denied:
        forms = _renderings(head) if neg.isascii() else [phrase]  # English: its Chinese renderings
        stated = next((f for f in forms if whole.states(f)), None)
        if stated:
            problems.append(f"denies what the cited passages state: {neg} {phrase} (the passage: {stated})")
    terms = _glossary_terms(text) if whole.denied else []
    for neg, phrase, _head in whole.denied:
        if not whole.only_denies(phrase):
            continue
        said = [i for i in claim.occurrences(phrase) if not claim.negated(i)]
        english = [
            t for t, rendered in terms if phrase in rendered and not claim.negated(text.lower().find(t))
        ]
        if said or english:
            problems.append(f"states what the cited passages deny: {neg}{phrase}")
    return sorted(set(problems), key=problems.index)


def _glossary_terms(text: str) -> list[tuple[str, list[str]]]:
    """The glossary's English terms in ``text`` and their Chinese renderings."""
    if not re.search(r"[A-Za-z]{2,}", text):
        return []
    low = text.lower()
    return [
        (t, r) for t, r in glossary().items() if re.search(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])", low)
    ]


def _inside(text: str, term: str, spans: list[tuple[int, int]]) -> bool:
    """True when every occurrence of ``term`` lies inside one of the (company-name) ``spans``."""
    hits = [m.span() for m in re.finditer(re.escape(term), text)]
    return bool(hits) and all(any(a <= x and y <= b for a, b in spans) for x, y in hits)


def check(
    reply: str, sources: dict[int, Source], mentions: Mentions | None = None, *, tag: Tagger
) -> list[Checked]:
    """Every sentence of ``reply``, checked."""
    return [check_sentence(s, sources, mentions, tag=tag) for s in split_sentences(reply)]


# the supporting sentence ----------------------------------------------------------------------


def passage_sentences(passage: Passage) -> list[Span]:
    """Sentence spans of a passage, relative to the passage text."""
    return sentence_spans(passage.text, 0, len(passage.text))


def support(
    sentence: Checked,
    source: Source,
    similarity: Callable[[str, list[str]], list[float]] | None = None,
    *,
    tag: Tagger,
) -> Span:
    """The sentence of ``source``'s passage that best supports ``sentence`` (filing offsets).

    Shared numbers and names weigh most (they are what the check verified); ``similarity`` (the
    embedding cosine, which works across languages) breaks the rest. Sentences of instruction-like
    paragraphs are passed over while the passage has others.
    """
    p = source.passage
    spans = passage_sentences(p) or [Span(start=0, end=len(p.text))]
    data = as_data(p.text)  # an injected paragraph is never the quote shown as the support
    spans = [s for s in spans if data[s.start : s.end].strip()] or spans
    texts = [p.text[s.start : s.end] for s in spans]
    nums, names = numbers(sentence.text), {e.lower() for e in entities(sentence.text, tag)}
    sims = similarity(sentence.text, texts) if similarity and len(texts) > 1 else [0.0] * len(texts)

    def score(i: int) -> float:
        t = texts[i]
        shared = len(nums & numbers(t, lenient=True)) + sum(1 for e in names if e in t.lower())
        return shared + float(sims[i])

    best = max(range(len(spans)), key=score)
    return Span(start=p.start + spans[best].start, end=p.start + spans[best].end)
