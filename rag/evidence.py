"""What a question asks about, in terms a Chinese filing can be checked against.

An extractive answer is only as good as its evidence: a passage that a vector model finds
"similar" may still say nothing about the figure, person or product asked for. This module turns
a question (Chinese, English or mixed) into checkable terms:

- **names** — proper nouns (Latin product/company names such as SAM, Tahoe, Huawei; Chinese
  person/place/organization names that jieba tags as such): each must occur in the evidence,
- **times** — years and periods (2023, 一季度/Q1, 上半年/H1): each must occur, in any of its forms,
- **topics** — the remaining content words ("海外", "收入", "占比"; English ones through the
  glossary ``rag/data/glossary_en_zh.json``, so "gross margin" is checked as 毛利率): enough of
  them must occur for the evidence to be about the question.

It also says whether a question asks for a figure (多少, how many, what percentage …), in which case
the quoted sentence must hold a number.

Example::

    >>> t = question_terms("What was ArcSoft's gross margin in H1 2024?", Analyzer(), ignore={"arcsoft"})
    >>> [x.label for x in t.topics], [x.label for x in t.times]
    (['gross margin'], ['2024', 'h1'])
    >>> t.missing_topics("公司2024年上半年研发费用共计1.94亿元")
    ['gross margin']
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from irqa.rag.analysis import Analyzer
from irqa.rag.analysis.stopwords import MONTHS_EN, TOPIC_STOP_EN, TOPIC_STOP_ZH
from irqa.rag.glossary import glossary

_WS = re.compile(r"\s+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9&\-]*|\d+[A-Za-z][A-Za-z0-9]*")
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)(?!-\d{3})")  # not a record number (2024-007)

#: equivalent spellings of a period; a question's period must occur in one of its forms
_PERIODS: list[tuple[str, tuple[str, ...]]] = [
    ("上半年", ("上半年", "半年度", "半年", "h1", "1-6月", "中期")),
    ("下半年", ("下半年", "h2")),
    ("一季度", ("一季度", "第一季度", "q1", "1季度")),
    ("二季度", ("二季度", "第二季度", "q2")),
    ("三季度", ("三季度", "第三季度", "q3")),
    ("四季度", ("四季度", "第四季度", "q4")),
    ("全年", ("全年", "全年度", "年报", "年度报告", "fullyear", "full-year")),
]
_EN_PERIODS = {
    "h1": "上半年",
    "first half": "上半年",
    "half year": "上半年",
    "half-year": "上半年",
    "interim": "上半年",
    "h2": "下半年",
    "second half": "下半年",
    "q1": "一季度",
    "first quarter": "一季度",
    "q2": "二季度",
    "second quarter": "二季度",
    "q3": "三季度",
    "third quarter": "三季度",
    "q4": "四季度",
    "fourth quarter": "四季度",
    "full year": "全年",
    "full-year": "全年",
}
_ZH_PERIOD_WORDS = {alias: label for label, forms in _PERIODS for alias in forms if not alias.isascii()}
_PERIOD_FORMS = dict(_PERIODS)
#: the glossary maps these English words to period words: they are times, not topics
_TIME_GLOSS = frozenset(
    {"year", "annual", "quarter", "half year", "first half", "second half", "h1", "h2", "q1"}
)
#: question cues that ask for a figure
_ASKS_NUMBER = re.compile(
    r"多少|几[个家台人年次倍款条项成]|占比|比例|比重|百分之|增速|增幅|增长率|金额|数量|参数量|人数"
    r"|how much|how many|what percentage|percentage|proportion|\bratio\b|\brate\b|what share|\bnumber of\b"
    r"|\bfigure\b|\bamount\b|\bbalance\b",
    re.I,
)
#: "海康的毛利率？": a bare metric, once the company is taken out, most likely wants its value
_BARE_METRIC = re.compile(r"的?[\u4e00-\u9fff]{0,8}(?:率|收入|营收|利润|费用|现金流|存货|借款|分红|人数)")
_BARE = re.compile(r"[\s?？。.!！]+")
#: a number in a quote: digits, or Chinese numerals with a counter (数百万台, 一个量级, 百亿级)
_NUMBER = re.compile(
    r"\d|[二两三四五六七八九十百千万亿几数]+(?:个|家|台|人|倍|成|亿|万|级|款|条|项|名|位)|[一][倍成]"
)
#: suffixes that make a Chinese word an organization name (苹果公司, 萤石网络 is caught by jieba tags)
_ORG_SUFFIX = re.compile(r"..+(?:公司|集团|银行|证券|基金|资本)$")
_NAME_FLAGS = frozenset({"nr", "ns", "nt", "nz", "nrt", "nrfg"})
#: parts of speech that name a topic (nouns, verbal nouns, idioms, abbreviations, adjectives)
_TOPIC_FLAGS = frozenset({"n", "ng", "nl", "vn", "l", "j", "a", "an", "i"})
#: words about the record itself, not about what it says (调研, 业绩说明会, 记录表 …)
_META = re.compile(r"调研|活动|会议|说明会|业绩会|交流会|记录表|投资者关系|投资者|记录|年度")


def squash(text: str) -> str:
    """The form evidence is searched in: NFKC-folded, lowercased, without whitespace."""
    return _WS.sub("", unicodedata.normalize("NFKC", text)).lower()


@dataclass(frozen=True)
class Term:
    label: str  # as the question says it
    forms: tuple[str, ...]  # squashed spellings that count as the term being present

    def found_in(self, evidence: str) -> bool:
        """``evidence`` must already be :func:`squash`-ed."""
        for f in self.forms:
            if f in evidence:
                return True
            if len(f) >= 4 and _CJK_RUN.fullmatch(f):  # 扣非净利润 ~ 归母扣非净利润, 研发费用率 ~ 研发费用…率
                grams = [f[i : i + 2] for i in range(len(f) - 1)]
                if sum(g in evidence for g in grams) >= len(grams) - 1:
                    return True
        return False


@dataclass
class QuestionTerms:
    names: list[Term] = field(default_factory=list)
    times: list[Term] = field(default_factory=list)
    topics: list[Term] = field(default_factory=list)
    asks_number: bool = False  # a figure is asked for: the quote must hold one
    prefers_number: bool = False  # … or likely wanted ("海康的毛利率？"): quotes with one rank higher

    def missing_names(self, evidence: str) -> list[str]:
        ev = squash(evidence)
        return [t.label for t in self.names if not t.found_in(ev)]

    def missing_times(self, evidence: str) -> list[str]:
        ev = squash(evidence)
        return [t.label for t in self.times if not t.found_in(ev)]

    def other_years(self, text: str) -> bool:
        """True when ``text`` states a year and none of the years the question asks about."""
        asked = {t.label for t in self.times if _YEAR.fullmatch(t.label)}
        stated = set(_YEAR.findall(text))
        return bool(asked and stated and not asked & stated)

    def missing_topics(self, evidence: str) -> list[str]:
        ev = squash(evidence)
        return [t.label for t in self.topics if not t.found_in(ev)]

    def time_coverage(self, evidence: str) -> float:
        """Share of the asked periods that ``evidence`` states (1.0 when the question names none)."""
        if not self.times:
            return 1.0
        ev = squash(evidence)
        return sum(t.found_in(ev) for t in self.times) / len(self.times)

    def coverage(self, evidence: str, weights: dict[str, float] | None = None) -> float:
        """Share of the topic terms that occur in ``evidence`` (1.0 when the question has none),
        each counted once or with its ``weights`` entry (see :meth:`rarity`)."""
        if not self.topics:
            return 1.0
        ev = squash(evidence)
        w = weights or {}
        total = sum(w.get(t.label, 1.0) for t in self.topics)
        return sum(w.get(t.label, 1.0) for t in self.topics if t.found_in(ev)) / total

    def rarity(self, texts: list[str]) -> dict[str, float]:
        """An IDF-like weight per topic term over ``texts``: a term few of them hold weighs more."""
        squashed = [squash(t) for t in texts]
        n = len(squashed)
        return {t.label: math.log(1 + n / (1 + sum(t.found_in(x) for x in squashed))) for t in self.topics}

    @property
    def checkable(self) -> bool:
        return bool(self.names or self.times or self.topics)


def has_number(text: str) -> bool:
    return bool(_NUMBER.search(text))


def asks_number(question: str) -> bool:
    return bool(_ASKS_NUMBER.search(question))


@lru_cache(maxsize=1)
def synonyms() -> dict[str, tuple[str, ...]]:
    """Chinese words and the filing wordings that say the same (营收 → 营业收入 …), from
    ``rag/data/synonyms_zh.json`` (editable)."""
    from importlib.resources import files

    groups = json.loads(files("irqa.rag").joinpath("data/synonyms_zh.json").read_text(encoding="utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for g in groups:
        for w in g:
            out[w] = tuple(dict.fromkeys([*out.get(w, ()), *g]))
    return out


@lru_cache(maxsize=1)
def _gloss_pattern() -> re.Pattern[str]:
    terms = sorted(set(glossary()) | set(_EN_PERIODS), key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, terms)) + r")(?![a-z0-9])")


def _english_terms(question: str, ignore: set[str], out: QuestionTerms) -> None:
    low = question.lower()
    taken = [False] * len(low)
    for m in _gloss_pattern().finditer(low):
        a, b = m.span()
        phrase = m.group(1)
        taken[a:b] = [True] * (b - a)
        if phrase in ignore:
            continue
        if phrase in _EN_PERIODS:
            label = _EN_PERIODS[phrase]
            out.times.append(Term(phrase, _PERIOD_FORMS[label]))
            continue
        if (
            phrase in _TIME_GLOSS
            or phrase in TOPIC_STOP_EN
            or any(_META.search(z) for z in glossary().get(phrase, []))
        ):
            continue  # a period, or the record itself ("earnings call" → 业绩说明会)
        forms = tuple(dict.fromkeys([squash(z) for z in glossary().get(phrase, [])] + [squash(phrase)]))
        said = question[a:b]
        proper = said[:1].isupper() and (a > 0 and question[:a].strip() != "")
        (out.names if proper else out.topics).append(Term(said if proper else phrase, forms))
    for m in _LATIN.finditer(question):
        a, b = m.span()
        word = m.group(0)
        lw = word.lower().strip("-")
        if any(taken[a:b]) or lw in ignore or lw in TOPIC_STOP_EN or len(lw) < 2:
            continue
        if lw.endswith("'s"):
            lw = lw[:-2]
        if lw in MONTHS_EN:
            out.times.append(Term(word, (f"{MONTHS_EN[lw]}月", lw)))
            continue
        first = a == len(question) - len(question.lstrip())
        proper = (word[0].isupper() and not first) or word.isupper() or any(c.isdigit() for c in word)
        if proper and lw not in TOPIC_STOP_EN:
            out.names.append(Term(word, (lw,)))
        # other English words are unverifiable without a translation: they neither count nor block


#: measure words jieba sometimes glues to the noun after them (颗卫星, 家门店)
_CLASSIFIERS = frozenset("个颗家项名位台座条款只件批种次辆架艘")


def _chinese_terms(question: str, ignore: set[str], out: QuestionTerms, analyzer: Analyzer) -> None:
    text = " ".join(_CJK_RUN.findall(question))
    if not text:
        return
    for word, flag in analyzer.topic_tags(text):
        w = word.strip()
        if len(w) > 2 and w[0] in _CLASSIFIERS:  # 多少颗卫星 → jieba's 颗卫星: the topic is 卫星
            w = w[1:]
        if len(w) < 2 or w in TOPIC_STOP_ZH or w in ignore or not _CJK_RUN.fullmatch(w):
            continue
        if w in _ZH_PERIOD_WORDS:
            out.times.append(Term(w, _PERIOD_FORMS[_ZH_PERIOD_WORDS[w]]))
        elif _META.search(w):
            continue
        elif flag in _NAME_FLAGS or _ORG_SUFFIX.fullmatch(w):
            out.names.append(Term(w, (w,)))
        elif flag in _TOPIC_FLAGS or w in synonyms():
            out.topics.append(Term(w, synonyms().get(w, (w,))))


#: a name the question spells both ways: "Nettrix (宁畅)", "Three-Circle（三环集团）"
_GLOSSED = re.compile(r"([A-Z][\w&.\-]*)\s*[（(]\s*([\u4e00-\u9fff]{2,12})\s*[)）]")


def _merge_glossed(question: str, out: QuestionTerms) -> None:
    """One name for each "X (Y)" spelling pair: either spelling in the evidence is the name
    present (a question that glosses its English name should not need both)."""
    for m in _GLOSSED.finditer(question):
        latin, zh = m.group(1), m.group(2)
        hit = [t for t in out.names + out.topics if squash(t.label) == squash(latin) or squash(t.label) in zh]
        if not hit:
            continue
        out.names[:] = [t for t in out.names if t not in hit]
        out.topics[:] = [t for t in out.topics if t not in hit]
        out.names.append(Term(latin, tuple(dict.fromkeys([squash(latin), squash(zh)]))))


def question_terms(
    question: str, analyzer: Analyzer, ignore: set[str] | frozenset[str] = frozenset()
) -> QuestionTerms:
    """The checkable terms of ``question``; ``ignore`` holds lowercased words to skip (company
    names); ``analyzer`` is the index's (its POS tags find the Chinese topics and names)."""
    ign = {w.lower() for w in ignore}
    for name in list(ign):  # "虹软科技" also hides its parts when jieba splits it
        ign.update(p for p in re.split(r"\s+", name) if p)
    q = question
    for name in sorted(ignore, key=len, reverse=True):  # company names are not topics
        if len(name) >= 2:
            q = re.sub(re.escape(name), " ", q, flags=re.I)
    q = re.sub(r"\b(?:take|takes|took|taking|taken) place\b", " ", q, flags=re.I)  # "happen", not "地点"
    out = QuestionTerms(asks_number=asks_number(question))
    out.prefers_number = out.asks_number or bool(_BARE_METRIC.fullmatch(_BARE.sub("", q)))
    for y in dict.fromkeys(_YEAR.findall(q)):
        out.times.append(Term(y, (y,)))
    q_wo_years = _YEAR.sub(" ", q)
    _english_terms(q_wo_years, ign, out)
    _chinese_terms(q_wo_years, ign, out, analyzer)
    _merge_glossed(question, out)
    seen: set[str] = set()
    for kind in (out.names, out.times, out.topics):
        kind[:] = [t for t in kind if not (t.label in seen or seen.add(t.label))]
    return out
