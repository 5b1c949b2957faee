"""Which company a question is about: aliases from an editable file, extended by every ingest.

The alias file (``<index>/aliases.json`` by default) maps a stock code to its names::

    {"688088": {"short_name": "虹软科技", "company": "虹软科技股份有限公司",
                "aliases": ["虹软", "ArcSoft"]}}

Ingestion adds each filing's code, short name, full name and the usual two-character
abbreviation of a four-character short name (虹软科技 → 虹软); English names come from the
built-in list in ``rag/data/aliases.json`` or from users editing the file.

Example::

    >>> r = CompanyResolver.load(engine.config.aliases_path, indexed_codes={"688088"})
    >>> r.resolve("what did 虹软 say about Turbo Fusion").codes
    ['688088']
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from irqa.rag.analysis import JiebaDictionary
from irqa.rag.models import FilingHeader

_GENERIC_PREFIXES = {
    "中国",
    "上海",
    "北京",
    "深圳",
    "广州",
    "杭州",
    "江苏",
    "浙江",
    "国际",
    "东方",
    "北方",
    "南方",
}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_LEGAL_SUFFIX = re.compile(r"(股份有限公司|有限责任公司|有限公司|集团)$")
# "<subject>的/对/在/有/'s …": a question about a named entity usually opens with it
_ZH_SUBJECT = re.compile(
    r"^(?:请问|想问一下|请教)?\s*([\u4e00-\u9fffA-Za-z0-9]{2,12}?)(?:公司|集团)?(?:的|对|在|有没有|有|是否|今年|明年|去年)"
)
# "宁德时代 battery …", "腾讯 Q3 …": a Chinese name standing alone before a space or Latin text
_ZH_LEADING_NAME = re.compile(r"^(?:请问)?([\u4e00-\u9fff]{2,8})(?=\s|[A-Za-z0-9])")
# words around a leading name that are not part of it: "请问明年公司 1.6T …", "公司在 CPO 方面 …"
# (real-record questions: 9 of 289 of 中际旭创's were refused as naming a company "公司在")
_ZH_FILLER_HEAD = re.compile(r"^(?:请问|想问一下|请教|您好|你好|明年|今年|去年|目前|现在|未来)+")
_ZH_FILLER_TAIL = re.compile(r"(?:公司|集团|的|在|对|有|是|方面)+$")
_EN_SUBJECT = re.compile(
    r"\b([A-Z][A-Za-z0-9&\-]{2,}(?:\s+[A-Z][A-Za-z0-9&\-]+)*)(?:'s|’s|\s+(?:say|said|says|think|plan|expect))"
)
_EN_PROPER = re.compile(r"(?<=[a-z,] )([A-Z][a-z]{2,})\b")
# capitalized words that are not company names (places, months, languages)
_ENGLISH_WORDS = {
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "China",
    "Chinese",
    "America",
    "American",
    "Europe",
    "European",
    "Asia",
    "Japan",
    "Korea",
    "India",
    "Africa",
    "English",
    "Mandarin",
    "Beijing",
    "Shanghai",
    "Shenzhen",
    "Hangzhou",
    "Hong",
    "Kong",
    "Taiwan",
}
_GENERIC_SUBJECTS = {
    "公司",
    "哪家",
    "哪个",
    "哪些",
    "这家",
    "贵公司",
    "你们",
    "你们公司",
    "管理层",
    "行业",
    "市场",
    "大家",
    "我们",
    "目前",
    "未来",
    "今年",
    "The",
    "What",
    "How",
    "Why",
    "When",
    "Which",
    "Does",
    "Did",
    "Company",
    "Management",
    "Its",
}


def _word_char(text: str, i: int) -> bool:
    """An ASCII letter or digit at ``i``: "Hikvision的" still names Hikvision, "insta3600" not Insta360."""
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()


def builtin_aliases() -> dict[str, dict]:
    """The built-in names; keys that are not stock codes ("_note") document the file."""
    table = json.loads(files("irqa.rag").joinpath("data/aliases.json").read_text(encoding="utf-8"))
    return {k: v for k, v in table.items() if re.fullmatch(r"\d{6}", k)}


#: a two-character head that is a frequent word (jieba's dictionary count) names no company:
#: 浪潮 (461, "AI浪潮"), 北方 (3850) would claim ordinary questions; 紫光 (49), 海康 (2) are names
_COMMON_WORD_FREQ = 100


def _common_word(word: str, dictionary: JiebaDictionary | None = None) -> bool:
    freq, _ = (dictionary or JiebaDictionary()).table()  # read once per process, only at ingest
    return (freq.get(word) or 0) >= _COMMON_WORD_FREQ


def abbreviations(short_name: str, full_name: str, dictionary: JiebaDictionary | None = None) -> list[str]:
    """Names people use for a company besides its short name (旭创-style tails are in the built-in list)."""
    out = [short_name, full_name]
    bare = _LEGAL_SUFFIX.sub("", full_name)
    if bare and bare != full_name:
        out.append(bare)
    if len(short_name) == 4 and re.fullmatch(r"[\u4e00-\u9fff]{4}", short_name):
        head = short_name[:2]
        if head not in _GENERIC_PREFIXES and not _common_word(head, dictionary):
            out.append(head)
    return [a for a in dict.fromkeys(out) if a]


@dataclass
class Resolution:
    codes: list[str] = field(default_factory=list)  # indexed companies the question names
    unknown: list[str] = field(default_factory=list)  # names that look like companies we don't index
    #: Latin-script words that look like a company name but match no company in the table ("Innolight" before its
    #: English name is listed, "Foobar Corp"): never a reason to refuse, the evidence decides (see
    #: ``irqa.rag.answer.assumed_company``)
    guessed: list[str] = field(default_factory=list)
    #: the part of ``unknown`` that is only a guess from the question's opening words (贵州茅台的…):
    #: with a company filter it is no conflict (the filter says which company; the evidence decides)
    subjects: list[str] = field(default_factory=list)
    #: with a company filter: the companies the question names instead (never answered from the filter)
    conflict: list[str] = field(default_factory=list)
    filter_name: str = ""  # the filter's company, as shown to the user


class CompanyResolver:
    """Finds company mentions (alias, full name, stock code, English name) in questions."""

    def __init__(self, table: dict[str, dict], indexed_codes: set[str]) -> None:
        self.table = table
        self.indexed = indexed_codes
        pairs = []
        for code, entry in table.items():
            names = [entry.get("short_name", ""), entry.get("company", ""), *entry.get("aliases", [])]
            pairs += [(n, code) for n in names if n]
        pairs.sort(key=lambda p: -len(p[0]))
        self._names = pairs

    @classmethod
    def load(cls, path: Path, indexed_codes: set[str]) -> CompanyResolver:
        table = builtin_aliases()
        if path.is_file():
            try:
                for code, entry in json.loads(path.read_text(encoding="utf-8")).items():
                    merged = table.setdefault(code, {})
                    merged.update({k: v for k, v in entry.items() if k != "aliases"})
                    merged["aliases"] = list(
                        dict.fromkeys([*merged.get("aliases", []), *entry.get("aliases", [])])
                    )
            except (ValueError, AttributeError) as e:
                raise ValueError(f"alias file {path} is not valid JSON of the documented shape: {e}") from e
        return cls(table, indexed_codes)

    def all_names(self) -> list[str]:
        return [n for n, _ in self._names]

    def names_of(self, code: str) -> list[str]:
        return [n for n, c in self._names if c == code]

    def display_name(self, code: str) -> str:
        """The short name users know a company by ("虹软科技"), else its code."""
        entry = self.table.get(code, {})
        return entry.get("short_name") or entry.get("company") or code

    def lookup(self, name_or_code: str) -> str | None:
        """The code for a company name, alias or code (case-insensitive), or None."""
        q = name_or_code.strip()
        if q in self.table:
            return q
        for n, code in self._names:
            if n.lower() == q.lower():
                return code
        return None

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, code) of every company name, alias or known stock code in ``text``.

        Longest names win; ASCII names match whole words only ("Insta360", not "insta3600").
        """
        low = text.lower()
        taken = [False] * len(text)
        found: list[tuple[int, int, str]] = []
        for name, code in self._names:
            n = name.lower()
            for m in re.finditer(re.escape(n), low):
                a, b = m.span()
                if any(taken[a:b]):
                    continue
                if n.isascii() and (_word_char(low, a - 1) or _word_char(low, b)):
                    continue
                taken[a:b] = [True] * (b - a)
                found.append((a, b, code))
        for m in _CODE.finditer(text):
            if m.group(1) in self.indexed or m.group(1) in self.table:
                found.append((*m.span(1), m.group(1)))
        return sorted(found)

    def resolve(self, question: str, known_term=lambda t: True, tags=None) -> Resolution:
        """Companies named in ``question``; ``known_term`` tells whether a word occurs in the corpus,
        ``tags`` (the index analyzer's POS tagger) whether a Chinese opening phrase can be a name."""
        res = Resolution()
        for _, _, code in self.mentions(question):
            if code not in res.codes:
                res.codes.append(code)
        res.unknown += [m.group(1) for m in _CODE.finditer(question) if m.group(1) not in res.codes]
        res.unknown += [self.display_name(c) for c in res.codes if c not in self.indexed]
        res.codes = [c for c in res.codes if c in self.indexed]
        if not res.codes and not res.unknown:
            subjects = self._unknown_subjects(question, known_term, tags)
            # a Chinese name the table lacks is another company (贵州茅台: refuse, as before); a
            # Latin one may be an indexed company's English name we lack (Innolight before it was
            # listed): the evidence decides (sample dev: abstention kept, eval/EXPERIMENTS.md)
            res.subjects += [n for n in subjects if _CJK.search(n)]
            res.unknown += res.subjects
            res.guessed += [n for n in subjects if not _CJK.search(n)]
        return res

    def _unknown_subjects(self, question: str, known_term, tags=None) -> list[str]:
        """A question's opening entity that is neither an alias nor a word the corpus contains."""
        out = []
        q = question.strip()
        for rx in (_ZH_SUBJECT, _ZH_LEADING_NAME):
            m = rx.match(q)
            name = _ZH_FILLER_HEAD.sub("", _ZH_FILLER_TAIL.sub("", m.group(1))) if m else ""
            if tags is not None and name and not _name_like(tags(name)):
                continue
            if len(name) > 1 and name not in _GENERIC_SUBJECTS and not known_term(name):
                out.append(name)
                break
        names = [m.group(1) for m in _EN_SUBJECT.finditer(question)]
        # a capitalized word inside an English sentence ("How much did Tencent spend …")
        names += [m.group(1) for m in _EN_PROPER.finditer(question)]
        for name in dict.fromkeys(names):
            if name not in _GENERIC_SUBJECTS and name not in _ENGLISH_WORDS and not known_term(name.lower()):
                out.append(name)
        return out


#: jieba POS flags of the words a company name is made of (贵州/ns 茅台/n, 宁德/nr 时代/n, 腾讯/nz)
_NAME_FLAGS = frozenset({"n", "nr", "ns", "nt", "nz", "nrt", "nrfg", "ng", "j", "eng"})
#: … at least one of which marks a proper name
_PROPER_FLAGS = frozenset({"nr", "ns", "nt", "nz", "nrt", "nrfg", "j", "eng"})


def _name_like(tagged: list[tuple[str, str]]) -> bool:
    """Whether a phrase can be a company name by its words: nouns only, one of them proper.

    Investor questions open with phrases the subject pattern takes for a name — 简单介绍一下,
    公司三季报能否尽早, 想请教一下 — which refused 80 of 1,391 answerable real-record questions
    ("The question is about 简单介绍一下 but the company filter is …"); verbs, pronouns, numbers and
    particles never occur in a name."""
    words = [(w, f) for w, f in tagged if w.strip()]
    return (
        bool(words) and all(f in _NAME_FLAGS for _, f in words) and any(f in _PROPER_FLAGS for _, f in words)
    )


def extend_alias_file(
    path: Path, headers: list[FilingHeader], dictionary: JiebaDictionary | None = None
) -> None:
    """Add what each header says about its company to the alias file (atomically, keeping edits).

    ``dictionary``: the index's (its table is loaded already, for the analyzer)."""
    table: dict[str, dict] = {}
    if path.is_file():
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return  # a hand-edited file with a typo: leave it for the user, don't clobber it
    builtin = builtin_aliases()
    changed = not path.is_file()
    for h in headers:
        if not h.code:
            continue
        entry = table.setdefault(h.code, {})
        for key, val in (("short_name", h.short_name), ("company", h.company)):
            if val and entry.get(key) != val:
                entry[key] = val
                changed = True
        names = entry.setdefault("aliases", [])
        for a in [
            *abbreviations(h.short_name, h.company, dictionary),
            *builtin.get(h.code, {}).get("aliases", []),
        ]:
            if a not in names and a not in (h.short_name, h.company):
                names.append(a)
                changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(table, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)
