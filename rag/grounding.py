"""The grounding check: a generated sentence is served only when the passages it cites hold it.

A language model given numbered passages can still invent a figure, move a number to the wrong
company, or cite nothing. Each sentence of its reply is checked on its own:

- it cites at least one passage it was given (``[n]`` markers, ``n`` among the given numbers);
- every number in it (amounts, percentages, counts, dates; Arabic digits, Chinese numerals before
  a unit such as 两家/第三季度, English number and month words) occurs in a cited passage;
- every named entity in it (Latin proper nouns and acronyms, jieba's person/place/organization
  names, company names from the alias table) occurs in a cited passage, its header facts or its
  company's names — and a company it names is the company of a cited passage.

Sentences that fail are not served; they are reported verbatim. The check is deliberately
literal: a figure the passage does not print ("0.18" for "18%", "120 million" for "1.2亿") fails,
which costs a sentence, never trust.

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

from irqa.rag.analysis.stopwords import MONTHS_EN, NOT_NAMES_EN
from irqa.rag.glossary import glossary
from irqa.rag.ingest.chunk import sentence_spans
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
_CN_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"〇": 0, "两": 2}
_CN_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
_CN_UNIT_AFTER = re.compile(r"[个家年月日号季度倍名款项位人次条种成亿万元%％]")
_EN_NUMBERS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_EN_NUMBERS.pop("zero")
_EN_NUMBERS.pop("one")  # "one of the…" is rarely a count
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&'’\-]*[A-Za-z0-9]|[A-Za-z]")
_ENTITY_FLAGS = ("nr", "ns", "nt", "nz")


@dataclass(frozen=True)
class Source:
    """A passage given to the model as ``[n]``, with the names its company goes by."""

    n: int
    passage: Passage
    names: tuple[str, ...] = ()

    @property
    def facts(self) -> str:
        """What the company said, and the record's header facts: the only source of numbers.

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


def _cn_value(run: str) -> int | None:
    """The value of a Chinese numeral run (三 → 3, 十二 → 12, 两千三百 → 2300); None if malformed."""
    digits = _CN_DIGITS
    units = {"十": 10, "百": 100, "千": 1000}
    big = {"万": 10_000, "亿": 100_000_000}
    total, section, digit = 0, 0, None
    for c in run:
        if c in digits:
            digit = digits[c] if digit is None else digit * 10 + digits[c]
        elif c in units:
            section += (1 if digit is None else digit) * units[c]
            digit = None
        elif c in big:
            section += digit or 0
            total += (section or 1) * big[c]
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


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
            if lw in NOT_NAMES_EN or lw in _EN_NUMBERS or lw in MONTHS_EN:
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
    cited = [sources[n] for n in cites]
    evidence = "\n".join(s.evidence for s in cited)
    low_evidence = evidence.lower()
    held = numbers("\n".join(s.facts for s in cited), lenient=True)
    missing = sorted(numbers(text) - held)
    if missing:
        out.problems.append(f"numbers not in the cited passages: {missing}")
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
    return out


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
    embedding cosine, which works across languages) breaks the rest.
    """
    p = source.passage
    spans = passage_sentences(p) or [Span(start=0, end=len(p.text))]
    texts = [p.text[s.start : s.end] for s in spans]
    nums, names = numbers(sentence.text), {e.lower() for e in entities(sentence.text, tag)}
    sims = similarity(sentence.text, texts) if similarity and len(texts) > 1 else [0.0] * len(texts)

    def score(i: int) -> float:
        t = texts[i]
        shared = len(nums & numbers(t, lenient=True)) + sum(1 for e in names if e in t.lower())
        return shared + float(sims[i])

    best = max(range(len(spans)), key=score)
    return Span(start=p.start + spans[best].start, end=p.start + spans[best].end)
