"""Visits: who came to which company, from the header of each 投资者关系活动记录表.

The parser keeps the 参与单位名称及人员姓名 cell as one collapsed string
(``FilingHeader.participants``). Here that cell becomes institutions with their people, so one
can ask who visited a company in a period, which indexed companies an institution visited, how
many visits a company had per month or per activity type, and which institutions attended two
given meetings.

How the cell is read (``parse_participants``):

- The raw cell is recovered from ``Filing.text`` (the collapsed value, matched with any
  whitespace between its words), because line breaks and double spaces separate entries and
  names there ("Dymon Asia Capital  Chi- Ho Wong").
- Entries are separated by ；; and line breaks; a cell with none of those but a 、，, list of bare
  names is a list of institutions (景顺长城、泰康资产、…). A line starting with 、 continues the
  previous one.
- An entry is "机构 人名、人名", "机构：人名", "机构人名" glued (华商基金戴福宏: split after the
  last kind word such as 基金/证券/投资), or Latin "Citigroup Karen Huang" (the institution runs
  to its last kind word such as Capital/Management/Ltd, else it is the first word).
- "个人：…" lists individuals (counted as people, no institution). "全体投资者" and the like mean
  an open online meeting: ``public`` is set and there are no institutions.
- "N家机构，共M人" is kept as the stated counts; notes in brackets (（排名不分先后）,
  （详见附件…）) and the compliance sentence some records print in the cell are dropped.
- "详见附件"/"见附件": the parser appends the attendee list when the record carries it
  (《与会人员清单》：…), and that list is read. Without it the institutions are unknown: the visit
  has none and the flag ``see_attachment`` says so, so counts never treat it as "nobody came".

Names are matched by ``canonical`` (NFKC, region brackets such as (香港) dropped, legal forms such
as 股份有限公司 / Co., Ltd. dropped, the kind word folded: 基金管理→基金, 资产/资管→资产管理,
投资管理→投资, 私募基金→私募) and ``rag/data/institution_aliases.json`` for brands printed
without their kind (景顺长城 → 景顺长城基金). The kind is kept, so 华安基金 and 华安证券, or
东方证券 and 东方证券资管, stay distinct; a name printed without a kind (景顺长城 before the alias)
matches any kind of the same stem.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from irqa.rag.errors import IrqaError
from irqa.rag.models import Filing, FilingSummary
from pydantic import BaseModel, Field

# ---------------------------------------------------------------- models


class Attendee(BaseModel):
    """One institution in a record's participant cell."""

    name: str  # canonical, e.g. "景顺长城基金"
    printed: str  # as printed, e.g. "景顺长城基金管理有限公司"
    people: list[str] = Field(default_factory=list)


class Visit(BaseModel):
    """One 投资者关系活动 as its record's header states it."""

    filing_id: str
    code: str
    company: str
    date: dt.date | None  # first activity date, else the record date
    dates: list[dt.date] = Field(default_factory=list)
    activity_types: list[str] = Field(default_factory=list)
    institutions: list[Attendee] = Field(default_factory=list)
    individuals: list[str] = Field(default_factory=list)  # people listed without an institution (个人：…)
    people_count: int | None = None  # names read from the cell; None when none are printed
    stated_institutions: int | None = None  # "71家机构"
    stated_people: int | None = None  # "共84人"
    public: bool = False  # an open meeting (全体投资者): no institutions by nature
    see_attachment: bool = False  # the cell says 见附件 and no attendee list was found: unknown
    place: str = ""
    staff: list[str] = Field(default_factory=list)


class VisitCount(BaseModel):
    """Visits of one company in one month, or of one activity type."""

    code: str = ""
    company: str = ""
    month: str = ""  # "2024-08"; "" for per-type counts
    activity_type: str = ""  # "" for per-month counts
    visits: int
    institutions: int  # distinct canonical institutions over those visits


class CommonInstitution(BaseModel):
    """An institution present at both of two meetings."""

    name: str
    printed_a: str
    printed_b: str
    people_a: list[str] = Field(default_factory=list)
    people_b: list[str] = Field(default_factory=list)


class InstitutionVisits(BaseModel):
    """The indexed companies one institution visited."""

    code: str
    company: str
    visits: int
    filing_ids: list[str]
    dates: list[dt.date]
    printed: list[str]  # the names it was printed under


# ---------------------------------------------------------------- names

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_REGION = (
    r"[(（](?:香港|中国|亚洲|上海|北京|深圳|珠海|海南|天津|广州|杭州|宁波|厦门|青岛|成都|苏州|南京|"
    r"新加坡|国际|Hong Kong|HK|China|Asia|Singapore)[)）]"
)
_LEGAL_ZH = re.compile(r"(?:集团)?(?:股份有限公司|有限责任公司|有限公司|股份公司)$")
_LEGAL_EN = re.compile(
    r"(?:,\s*|\s+)(?:Co\.?\s*,?\s*Ltd\.?|Company Limited|Limited|Ltd\.?|Inc\.?|LLC|L\.P\.|LP|Corp\.?|Corporation)$",
    re.I,
)
#: printed kind word → the kind it is counted as (longest first, so 基金管理 wins over 基金)
_KINDS_ZH: tuple[tuple[str, str], ...] = (
    ("私募证券投资基金管理", "私募"),
    ("私募证券投资基金", "私募"),
    ("私募证券基金管理", "私募"),
    ("私募证券基金", "私募"),
    ("私募基金管理", "私募"),
    ("私募投资基金", "私募"),
    ("私募基金", "私募"),
    ("私募", "私募"),
    ("保险资产管理", "保险资管"),
    ("保险资管", "保险资管"),
    ("基金管理", "基金"),
    ("基金", "基金"),
    ("资产管理", "资产管理"),
    ("资管", "资产管理"),
    ("资产", "资产管理"),
    ("投资管理", "投资"),
    ("投资", "投资"),
    ("证券股份", "证券"),
    ("证券", "证券"),
)
_KINDS_EN: tuple[tuple[str, str], ...] = (
    ("asset management", "Asset Management"),
    ("investment management", "Investment Management"),
    ("fund management", "Fund Management"),
    ("capital management", "Capital"),
    ("capital", "Capital"),
    ("investments", "Investment"),
    ("investment", "Investment"),
    ("management", "Management"),
)
#: words an institution's name ends with (for splitting "机构人名" and "AA 投资 周文博")
_INST_WORDS_ZH = (
    "基金",
    "证券",
    "资管",
    "资产",
    "投资",
    "资本",
    "私募",
    "保险",
    "人寿",
    "养老",
    "银行",
    "信托",
    "理财",
    "期货",
    "公司",
    "集团",
    "研究",
    "管理",
    "自营",
    "金控",
    "控股",
    "财富",
    "国际",
    "创投",
    "咨询",
    "科技",
)
_INST_WORDS_EN = {
    "capital",
    "management",
    "fund",
    "funds",
    "ltd",
    "ltd.",
    "limited",
    "international",
    "partners",
    "investment",
    "investments",
    "securities",
    "advisors",
    "advisers",
    "research",
    "group",
    "asset",
    "assets",
    "bank",
    "holdings",
    "llc",
    "inc",
    "inc.",
}
_INDIVIDUALS = {"个人", "个人投资者", "自然人", "个人股东"}
_PUBLIC_RE = re.compile(
    rf"^(?:[{_CJK}]{{0,12}}的)?(?:全体|广大|线上|网上|网络|在线|中小)?(?:投资者|股东|网友)(?:及[{_CJK}]+)?$"
)


@lru_cache(maxsize=1)
def _builtin_aliases() -> dict[str, str]:
    res = files("irqa.rag").joinpath("data/institution_aliases.json")
    return dict(json.loads(res.read_text(encoding="utf-8"))["aliases"])


def load_aliases(path: Path | None = None) -> dict[str, str]:
    """The alias table: the shipped one, or ``path`` (same shape: {"aliases": {printed: name}})."""
    raw = _builtin_aliases() if path is None else json.loads(path.read_text(encoding="utf-8"))["aliases"]
    return {_fold(k).lower(): v for k, v in raw.items()}


def _fold(name: str) -> str:
    """NFKC, brackets ASCII, spaces only between Latin words."""
    s = unicodedata.normalize("NFKC", name).strip(" \t\r\n、，,；;。.:：")
    s = re.sub(r"\s+", " ", s)
    return re.sub(rf"(?<=[{_CJK})(])\s+|\s+(?=[{_CJK}(])", "", s)


def _parts(name: str, aliases: dict[str, str] | None = None) -> tuple[str, str, str]:
    """(stem, kind, display) of an institution name: see the module docstring."""
    aliases = load_aliases() if aliases is None else aliases
    s = _fold(name)
    for _ in range(2):  # an alias's value may itself be an alias-free printed name
        target = aliases.get(s.lower())
        if target is None:
            break
        s = _fold(target)
    s = re.sub(_REGION, "", s, flags=re.I).strip()
    prev = None
    while prev != s:
        prev = s
        s = _LEGAL_ZH.sub("", s).strip() or prev
        s = _LEGAL_EN.sub("", s).strip() or prev
    if re.search(f"[{_CJK}]", s):
        for word, kind in _KINDS_ZH:
            if s.endswith(word) and len(s) > len(word):
                stem = s[: -len(word)]
                return stem, kind, stem + kind
        return s, "", s
    low = s.lower()
    for word, kind in _KINDS_EN:
        if low.endswith(" " + word):
            stem = s[: -len(word)].strip()
            return stem, kind, s
    return s, "", s


def canonical(name: str, aliases: dict[str, str] | None = None) -> str:
    """The name an institution is counted as: 景顺长城基金管理有限公司 → 景顺长城基金."""
    return _parts(name, aliases)[2]


def same_institution(a: str, b: str, aliases: dict[str, str] | None = None) -> bool:
    """Same stem, and the same kind or one printed without a kind (景顺长城 ~ 景顺长城基金)."""
    sa, ka, _ = _parts(a, aliases)
    sb, kb, _ = _parts(b, aliases)
    return sa.lower() == sb.lower() and (ka == kb or not ka or not kb)


# ---------------------------------------------------------------- the participant cell

_NOTE_RE = re.compile(r"[(（][^()（）]*(?:排名不分先后|排序不分先后|见附件|附件|不分先后)[^()（）]*[)）]")
_BOILERPLATE_RE = re.compile(
    r"(?:公司|本次|接待过程|交流过程|在交流)[^；;\n]*(?:严格遵守|信息披露|未公开重大信息)"
)
_STATED_INST_RE = re.compile(r"(\d+)\s*家(?:机构|单位|投资机构)?")
_STATED_PEOPLE_RE = re.compile(r"共\s*(\d+)\s*(?:人|位|名)")
_ATTACHMENT_RE = re.compile(r"(?:详见|见|参见)附件")
_LISTING_RE = re.compile(r"《[^》]{1,20}》[：:]")
_LIST_SEP = "、，,"


class Participants(BaseModel):
    """What a participant cell says."""

    institutions: list[Attendee] = Field(default_factory=list)
    individuals: list[str] = Field(default_factory=list)
    stated_institutions: int | None = None
    stated_people: int | None = None
    public: bool = False
    see_attachment: bool = False  # 见附件 with no list found: institutions unknown


def _is_cjk(s: str) -> bool:
    return bool(s) and all(re.match(f"[{_CJK}·]", c) for c in s)


def _cjk_name(s: str) -> bool:
    """A Chinese personal name: 2–4 characters that are not an institution word."""
    return _is_cjk(s) and 2 <= len(s) <= 4 and not any(s.endswith(w) or s == w for w in _INST_WORDS_ZH)


def _latin_word(s: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z.'-]*", s))


def _names(text: str) -> list[str]:
    """People in "张三、李四，Karen Huang": split at 、，, and stray spaces between Chinese names."""
    out: list[str] = []
    for item in re.split(f"[{_LIST_SEP}]", text):
        item = _fold(item).strip()
        item = re.sub(r"(?:先生|女士|等)$", "", item)
        if not item:
            continue
        if " " in item and all(_is_cjk(w) for w in item.split()):
            out.extend(item.split())
        else:
            out.append(item)
    return out


def _nameish(token: str) -> bool:
    """A whitespace token that belongs to the people part of an entry."""
    items = [i for i in re.split(f"[{_LIST_SEP}]", token) if i]
    return bool(items) and all(_cjk_name(i) or _latin_word(i) for i in items)


def _glued(entry: str) -> tuple[str, list[str]] | None:
    """Split a glued entry after its last institution word: 华商基金戴福宏 → 华商基金, [戴福宏]."""
    first, *rest = re.split(f"[{_LIST_SEP}]", entry, maxsplit=1)
    best = None
    for w in _INST_WORDS_ZH:
        at = first.rfind(w)
        while at > 0:
            tail = first[at + len(w) :]
            fits = _cjk_name(tail) and not any(tail.startswith(x) for x in _INST_WORDS_ZH)
            if fits and (best is None or at + len(w) > best):
                best = at + len(w)
            at = first.rfind(w, 0, at)
    if best is None:
        return None
    return first[:best], _names(first[best:] + ("、" + rest[0] if rest else ""))


def _latin_split(tokens: list[str]) -> int:
    """Where the people start in an all-Latin entry: after the last kind word, else after the first word."""
    for i in range(len(tokens) - 2, -1, -1):
        if tokens[i].lower().strip(",") in _INST_WORDS_EN:
            return i + 1
    return 1


def _entry(entry: str) -> tuple[str, list[str]]:
    """(institution as printed, people) of one entry; institution "" when it lists only people."""
    e = entry.strip(" \t、，,。")
    m = re.match(r"^([^：:]{1,60}?)\s*[：:]\s*(.*)$", e)
    if m:
        return _fold(m.group(1)), _names(m.group(2))
    wide = re.split(r"\s{2,}|\t", e, maxsplit=1)
    if len(wide) == 2 and not _nameish(wide[0].replace(" ", "")):
        return _fold(wide[0]), _names(wide[1])
    tokens = e.split()
    if not tokens:
        return "", []
    if len(tokens) == 1:
        glued = _glued(tokens[0])
        return glued if glued else (_fold(tokens[0]), [])
    if all(_latin_word(t) or t == "&" for t in tokens) or all(
        re.fullmatch(r"[A-Za-z0-9&.'-]+", t) for t in tokens
    ):
        k = _latin_split(tokens)
        return " ".join(tokens[:k]), _names(" ".join(tokens[k:]))
    k = len(tokens)
    while k > 0 and _nameish(tokens[k - 1]):
        k -= 1
    if k == 0:  # every word looked like a name ("国泰君安 谭健、邓佳", "Flex 姜小伟")
        k = 1
    if k == len(tokens):  # no people after the name: maybe glued to its last word
        glued = _glued(tokens[-1])
        if glued:
            return _fold(" ".join(tokens[:-1]) + " " + glued[0]), glued[1]
        return _fold(" ".join(tokens)), []
    return _fold(" ".join(tokens[:k])), _names(" ".join(tokens[k:]))


def _entries(cell: str) -> list[tuple[str, bool]]:
    """The cell's entries, each with whether it is a bare institution name (a 、-list of them)."""
    lines = []
    for line in cell.split("\n"):
        s = line.strip()
        if not s:
            continue
        if lines and s[0] in _LIST_SEP:  # a wrapped list of names
            lines[-1] += s
        else:
            lines.append(s)
    text = "\n".join(lines)
    entries = [e.strip() for e in re.split(r"[；;\n]", text) if e.strip()]
    if len(entries) == 1:
        items = [i.strip() for i in re.split(f"[{_LIST_SEP}]", entries[0]) if i.strip()]
        # "景顺长城、泰康资产、…": bare names, no people after any of them
        no_people = not any(" " in i and _cjk_name(i.split()[-1]) for i in items)
        if len(items) >= 2 and no_people and sum(_cjk_name(i) for i in items) * 2 < len(items):
            return [(i, True) for i in items]
    return [(e, False) for e in entries]


def parse_participants(cell: str, aliases: dict[str, str] | None = None) -> Participants:
    """Institutions (canonical + printed, with their people) and individuals of one cell."""
    aliases = load_aliases() if aliases is None else aliases
    out = Participants()
    m = _STATED_INST_RE.search(cell)
    if m and m.start() < 40:
        out.stated_institutions = int(m.group(1))
    m = _STATED_PEOPLE_RE.search(cell)
    if m and m.start() < 40:
        out.stated_people = int(m.group(1))
    listing = _LISTING_RE.search(cell)
    refers = bool(_ATTACHMENT_RE.search(cell))
    if listing:  # the attendee list the parser appended: it is the whole list
        cell = cell[listing.end() :]
    elif refers:
        out.see_attachment = True
    cell = _NOTE_RE.sub("", cell)
    cut = _BOILERPLATE_RE.search(cell)
    if cut:
        cell = cell[: cut.start()]
    if not listing:  # "共32家机构，共40人，详见附件": counts and the pointer are no names
        cell = re.sub(r"[共约]?\s*\d+\s*(?:家|位|人|名)(?:机构|单位|投资机构|投资者)?[，,、。]?", "", cell)
        cell = re.sub(r"(?:详见|见|参见)附件[^；;\n]*", "", cell)
    seen: dict[str, Attendee] = {}
    for entry, bare in _entries(cell):
        if _PUBLIC_RE.match(_fold(entry)):
            out.public = True
            continue
        printed, people = (_fold(entry), []) if bare else _entry(entry)
        if printed in _INDIVIDUALS or (not printed and people):
            out.individuals.extend(people)
            continue
        if not printed or re.fullmatch(r"[\d\s.、，,]+", printed):
            continue
        name = canonical(printed, aliases)
        if name in seen:  # printed twice (东方证券资管 … 东证资管): one institution
            seen[name].people.extend(p for p in people if p not in seen[name].people)
            continue
        seen[name] = Attendee(name=name, printed=printed, people=people)
    out.institutions = list(seen.values())
    return out


def raw_cell(filing: Filing) -> str:
    """The participant cell with its line breaks, found in the text; the collapsed value otherwise."""
    value = filing.header.participants
    listing = _LISTING_RE.search(value)
    head = value[: listing.start()] if listing else value
    words = head.split()
    if not words:
        return value
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, filing.text)
    if m is None:
        return value
    return m.group(0) + (" " + value[listing.start() :] if listing else "")


def _clean_types(types: Sequence[str]) -> list[str]:
    """Ticked types, minus marks the PDF reader kept as text (a private-use checkbox glyph)."""
    return [t.strip() for t in types if re.search(rf"[{_CJK}A-Za-z]", t)]


def visit_of(filing: Filing, aliases: dict[str, str] | None = None) -> Visit:
    """The visit a filing records."""
    h = filing.header
    p = parse_participants(raw_cell(filing), aliases)
    people = sum(len(a.people) for a in p.institutions) + len(p.individuals)
    return Visit(
        filing_id=filing.id,
        code=h.code,
        company=filing.company,
        date=h.activity_dates[0] if h.activity_dates else h.record_date,
        dates=list(h.activity_dates) or ([h.record_date] if h.record_date else []),
        activity_types=_clean_types(h.activity_types),
        institutions=p.institutions,
        individuals=p.individuals,
        people_count=people or None,
        stated_institutions=p.stated_institutions,
        stated_people=p.stated_people,
        public=p.public,
        see_attachment=p.see_attachment,
        place=h.place,
        staff=list(h.reception_staff),
    )


# ---------------------------------------------------------------- over an index


class FilingSource(Protocol):
    """What visits need of a store view (``StoreView``): summaries and filings by id."""

    def summaries(self) -> list[FilingSummary]: ...

    def filing(self, filing_id: str) -> Filing | None: ...


def visits_in(view: FilingSource, aliases: dict[str, str] | None = None) -> list[Visit]:
    """Every indexed filing's visit, sorted by (date, code, id). (``Engine.visits`` keeps them
    with the generation they were read from.)"""
    out = []
    for s in view.summaries():
        f = view.filing(s.id)
        if f is not None:
            out.append(visit_of(f, aliases))
    out.sort(key=lambda v: (v.date or dt.date.min, v.code, v.filing_id))
    return out


def _company_matches(v: Visit, company: str) -> bool:
    c = company.strip().lower()
    return c in (v.code.lower(), v.filing_id.lower()) or (bool(c) and c in v.company.lower())


def _in_period(v: Visit, date_from: dt.date | None, date_to: dt.date | None) -> bool:
    days = v.dates or ([v.date] if v.date else [])
    if not days:
        return date_from is None and date_to is None
    return any((date_from is None or d >= date_from) and (date_to is None or d <= date_to) for d in days)


def attended(v: Visit, institution: str, aliases: dict[str, str] | None = None) -> Attendee | None:
    """The attendee of ``v`` that is ``institution`` (``same_institution``), if any."""
    return next((a for a in v.institutions if same_institution(a.printed, institution, aliases)), None)


def select(
    visits: Iterable[Visit],
    company: str | None = None,
    institution: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> list[Visit]:
    """Visits of ``company`` (code or name) by ``institution`` in a period: any filter may be None."""
    return [
        v
        for v in visits
        if (not company or _company_matches(v, company))
        and (not institution or attended(v, institution) is not None)
        and _in_period(v, date_from, date_to)
    ]


def companies_visited(visits: Iterable[Visit], institution: str) -> list[InstitutionVisits]:
    """The indexed companies ``institution`` visited, with the records and printed names."""
    by_code: dict[str, list[tuple[Visit, Attendee]]] = defaultdict(list)
    for v in visits:
        a = attended(v, institution)
        if a is not None:
            by_code[v.code or v.company].append((v, a))
    return [
        InstitutionVisits(
            code=rows[0][0].code,
            company=rows[0][0].company,
            visits=len(rows),
            filing_ids=[v.filing_id for v, _ in rows],
            dates=[v.date for v, _ in rows if v.date],
            printed=sorted({a.printed for _, a in rows}),
        )
        for _, rows in sorted(by_code.items())
    ]


def base_type(activity_type: str) -> str:
    """The counted type: 其他（券商组织的交流会） → 其他."""
    return re.split(r"[（(]", activity_type, maxsplit=1)[0].strip() or activity_type


def counts_by_month(visits: Iterable[Visit]) -> list[VisitCount]:
    """Visits per company per month (of the visit's first date; undated ones under month "")."""
    groups: dict[tuple[str, str, str], list[Visit]] = defaultdict(list)
    for v in visits:
        groups[(v.code, v.company, v.date.strftime("%Y-%m") if v.date else "")].append(v)
    return [
        VisitCount(
            code=code,
            company=company,
            month=month,
            visits=len(vs),
            institutions=len({a.name for v in vs for a in v.institutions}),
        )
        for (code, company, month), vs in sorted(groups.items())
    ]


def counts_by_type(visits: Iterable[Visit]) -> list[VisitCount]:
    """Visits per activity type (a record ticking two types counts once under each; none: "未标明")."""
    groups: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        for t in dict.fromkeys(base_type(t) for t in v.activity_types) or ["未标明"]:
            groups[t].append(v)
    order = Counter({t: len(vs) for t, vs in groups.items()})
    return [
        VisitCount(
            activity_type=t,
            visits=n,
            institutions=len({a.name for v in groups[t] for a in v.institutions}),
        )
        for t, n in sorted(order.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def common_institutions(a: Visit, b: Visit) -> list[CommonInstitution]:
    """Institutions present at both meetings, in ``a``'s order."""
    out = []
    for x in a.institutions:
        y = attended(b, x.printed)
        if y is not None:
            out.append(
                CommonInstitution(
                    name=x.name,
                    printed_a=x.printed,
                    printed_b=y.printed,
                    people_a=x.people,
                    people_b=y.people,
                )
            )
    return out


# ---------------------------------------------------------------- CSV (one writer for CLI and HTTP)


def visits_csv(visits: Sequence[Visit]) -> str:
    """One row per visit; institutions and people joined by "；"."""
    return _csv(
        [
            "filing_id",
            "code",
            "company",
            "date",
            "activity_types",
            "institutions",
            "printed",
            "people_count",
            "public",
            "see_attachment",
            "place",
        ],
        [
            [
                v.filing_id,
                v.code,
                v.company,
                v.date.isoformat() if v.date else "",
                "；".join(v.activity_types),
                "；".join(a.name for a in v.institutions),
                "；".join(a.printed for a in v.institutions),
                "" if v.people_count is None else v.people_count,
                int(v.public),
                int(v.see_attachment),
                v.place,
            ]
            for v in visits
        ],
    )


def rows_csv(rows: Sequence[BaseModel]) -> str:
    """Counts, companies visited or common institutions: one row per model, lists joined by "；"."""
    if not rows:
        return ""
    fields = list(type(rows[0]).model_fields)
    return _csv(fields, [[_cell(getattr(r, f)) for f in fields] for r in rows])


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "；".join(str(x) for x in value)
    return value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


class UnknownFiling(IrqaError, ValueError):
    """``common`` named a filing id that is not indexed."""

    code = "not_found"


def common_of(visits: Sequence[Visit], a: str, b: str) -> list[CommonInstitution]:
    """Institutions at both filings ``a`` and ``b`` (ids), or ``UnknownFiling``."""
    by_id = {v.filing_id: v for v in visits}
    missing = [x for x in (a, b) if x not in by_id]
    if missing:
        raise UnknownFiling(f"no indexed filing with id {missing[0]!r} (see 'irqa filings')")
    return common_institutions(by_id[a], by_id[b])
