"""Figures: a number together with its unit, its scale and the words that say what it measures.

The grounding check used to ask only whether a sentence's digits occur in the cited passage. That
let a model serve "每10股派发现金红利65.55元" (the passage: 7元 per 10 shares, 65.55亿元 in all),
"7亿元" (the passage: 7元) or "2415元" (the digits of the stock code 002415). A figure here is
what the text *claims*: ``value`` is the printed number times its scale (65.55亿元 → 6555000000),
``unit`` its canonical unit (CNY, %, 股 …), ``per`` the share count an amount is per ("每10股"),
``before`` the words since the clause began (营业收入, 现金红利, revenue …) and ``direction`` the
增长/下降 that governs it. :func:`supports` says whether a passage's figure holds a claimed one:
what the claim names before its number must be named near the passage's number (a line item
such as 营业收入 in its sentence, a region such as 海外 in its paragraph, a period such as 一季度
anywhere before it), and a percentage the claim gives as a change (增长 63.64%) must be one in the
passage too, not a level (占比 63.64%).

Equalities are accepted only where they are provable by arithmetic on value × scale with the same
unit: 1.2亿元 = 12000万元 = 120 million yuan. Anything else ("18%" vs "0.18", 65.6亿 vs 65.55亿,
a unit on one side that the other does not print) is refused: a refused sentence costs a
sentence, a served wrong figure costs trust.

Example::

    >>> [f.label for f in figures("每10股派发现金红利7元，共计约65.55亿元")]
    ['10股', '7元 (每10股)', '65.55亿元']
    >>> claim, held = figures("派发现金红利6,555百万元")[0], figures("派发的现金红利约 65.55 亿元")[0]
    >>> supports(held, claim) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from irqa.rag.analysis.stopwords import MONTHS_EN

# numerals ---------------------------------------------------------------------------------------

CN_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"〇": 0, "两": 2}
CN_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
#: a unit that makes a single Chinese numeral a number in a claim (两家, 第三季度, 七元)
CN_UNIT_AFTER = re.compile(r"[个家年月日号季度倍名款项位人次条种成亿万元%％股]")
ARABIC = re.compile(r"(?<![\d.])\d+(?:,\d{3})*(?:\.\d+)?")
_PERCENT_CN = re.compile(r"百分之([零〇一二两三四五六七八九十百点]+|\d+(?:\.\d+)?)")
_WORDS = [
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
#: English number words a claim may use ("one" is left out: "one of the…" is rarely a count)
EN_NUMBERS = {w: i for i, w in enumerate(_WORDS, start=2)} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}


def cn_value(run: str) -> int | None:
    """The value of a Chinese numeral run (三 → 3, 十二 → 12, 两千三百 → 2300); None if malformed."""
    units = {"十": 10, "百": 100, "千": 1000}
    big = {"万": 10_000, "亿": 100_000_000}
    total, section, digit = 0, 0, None
    for c in run:
        if c in CN_DIGITS:
            digit = CN_DIGITS[c] if digit is None else digit * 10 + CN_DIGITS[c]
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


def _cn_decimal(run: str) -> Decimal | None:
    """五十一点零六 → 51.06; digits after 点 are read one by one."""
    whole, _, frac = run.partition("点")
    v = cn_value(whole) if whole else 0
    if v is None or any(c not in CN_DIGITS for c in frac):
        return None
    return Decimal(f"{v}.{''.join(str(CN_DIGITS[c]) for c in frac)}") if frac else Decimal(v)


def decimal(s: str) -> Decimal | None:
    try:
        return Decimal(s.replace(",", ""))
    except InvalidOperation:
        return None


# units ------------------------------------------------------------------------------------------

_SCALES = {
    "万亿": 10**12,
    "千亿": 10**11,
    "百亿": 10**10,
    "十亿": 10**9,
    "亿": 10**8,
    "千万": 10**7,
    "百万": 10**6,
    "十万": 10**5,
    "万": 10**4,
    "千": 10**3,
    "trillion": 10**12,
    "billion": 10**9,
    "bn": 10**9,
    "million": 10**6,
    "mln": 10**6,
    "mn": 10**6,
    "thousand": 10**3,
}
#: surface → canonical unit; the amount units are compared strictly (7元 is not 7%, 7股 or 7亿元)
_UNITS = {
    "CNY": ["元人民币", "人民币元", "人民币", "块钱", "元", "块", "yuan", "rmb", "cny", "renminbi"],
    "USD": ["美元", "us dollars", "us dollar", "dollars", "dollar", "usd"],
    "HKD": ["港元", "港币", "hk dollars", "hkd"],
    "EUR": ["欧元", "euros", "euro", "eur"],
    "JPY": ["日元", "yen", "jpy"],
    "pp": ["个百分点", "百分点", "percentage points", "percentage point", "ppt", "pp"],
    "%": ["%", "％", "percent", "per cent", "pct"],
    "股": ["股", "shares"],  # not "share": "the 2024 share buyback" is a year
    "倍": ["倍", "times", "fold"],
    "count": [*"个家名位人款项次条种台件套只所座户辆", "people", "persons", "employees"],
    "年": ["年", "years", "year"],
    "月": ["个月", "月", "months", "month"],
    "日": ["日", "号", "天", "days", "day"],
    "季度": ["季度", "季", "quarters", "quarter"],
    "帧": ["帧", "fps"],
    "成": ["成"],
}
CURRENCIES = frozenset({"CNY", "USD", "HKD", "EUR", "JPY"})
AMOUNT_UNITS = CURRENCIES | {"pp", "%", "股", "倍"}
TIME_UNITS = frozenset({"年", "月", "日", "季度"})
_UNIT_OF = {s: u for u, surfaces in _UNITS.items() for s in surfaces}
_PREFIX_CURRENCY = {
    "rmb": "CNY",
    "cny": "CNY",
    "¥": "CNY",
    "￥": "CNY",
    "us$": "USD",
    "$": "USD",
    "hk$": "HKD",
}


def _alternation(words: Iterable[str]) -> str:
    """Longest first; Latin words must end at a word boundary (``share`` is not ``shareholders``)."""
    out = []
    for w in sorted(set(words), key=len, reverse=True):
        out.append(re.escape(w) + (r"(?![A-Za-z])" if w[-1].isascii() and w[-1].isalpha() else ""))
    return "|".join(out)


_SP = r"[ \t\u3000]*"
_AFTER = re.compile(
    rf"{_SP}(?P<scale>{_alternation(_SCALES)})?{_SP}(?P<unit>{_alternation(_UNIT_OF)})?", re.IGNORECASE
)
_BEFORE_CURRENCY = re.compile(r"(?:RMB|CNY|US\$|HK\$|[¥￥$])\s*$", re.IGNORECASE)

# context ----------------------------------------------------------------------------------------

#: where a clause ends: a claim figure's own words are the ones since then
CLAUSE_END = re.compile(r"[，,;；。！？!?\n、]|\.(?!\d)")
#: where a sentence ends: a passage figure's words reach back to there
SENTENCE_END = re.compile(r"[。！？!?；;\n]|\.(?=\s|$)")
_PER_BEFORE = re.compile(r"每\s*(\d+|[一二两三四五六七八九十]+)?\s*股")
_PER_AFTER = re.compile(
    r"\s*(?:[/／每]\s*(\d+|[一二两三四五六七八九十]+)?\s*股"
    r"|(?:for\s+every|per)\s+(\d+|[a-z]+)\s+shares?|(?:per|a|each)\s+share\b|/\s*share\b)",
    re.IGNORECASE,
)
_PER_SHARE_MEASURE = re.compile(
    r"(?<![A-Za-z])(?:EPS|DPS|(?:earnings|dividends?) per share)(?![A-Za-z])", re.I
)
_UP = ["增长", "上升", "提升", "增加", "上涨", "提高", "回升", "增幅", "rose", "rise", "rises"]
_UP += ["risen", "grew", "grow", "grows", "growth", "increase", "increased", "increases", "up"]
_UP += ["climbed", "gained", "higher"]
_DOWN = ["负增长", "下降", "减少", "下滑", "降低", "下跌", "回落", "降幅", "fell"]
_DOWN += ["fall", "falls", "fallen", "declined", "decline", "declines", "decreased", "decrease"]
_DOWN += ["decreases", "dropped", "drop", "down", "lower", "shrank"]
_DIRECTION = re.compile(
    rf"(?<![A-Za-z])(?:(?P<down>{_alternation(_DOWN)})|(?P<up>{_alternation(_UP)}))", re.IGNORECASE
)

#: what a figure measures: a measure the claim names near its number must be named near the
#: passage's number (in its sentence; a region in its paragraph, a period anywhere before it).
#: Periods (一季度/H1) and regions (国内/海外) count: 海外收入 is not 国内收入.
MEASURES: dict[str, list[str]] = {
    "revenue": ["营业总收入", "营业收入", "营收", "收入", "销售收入", "销售额", "营业额", "revenue"],
    "net profit": ["归属于上市公司股东的净利润", "归母净利润", "净利润", "净利", "net profit"],
    "recurring net profit": [
        *("归母扣非净利润", "扣非净利润", "扣非归母净利润", "扣除非经常性损益后的净利润", "扣非"),
        *("recurring net profit", "net profit excluding non-recurring items"),
    ],
    "profit": ["利润", "盈利", "profit", "profits", "earnings"],
    "gross margin": ["毛利率", "毛利", "gross margin", "gross profit"],
    "net margin": ["净利率", "net margin"],
    "dividend": [
        *("现金分红", "分红", "现金红利", "红利", "股息", "派息"),
        *("dividend", "dividends", "cash dividend", "cash dividends", "payout"),
    ],
    "eps": ["每股收益", "earnings per share", "EPS"],
    "r&d": ["研发", "R&D", "research and development"],
    "staff": ["人员", "员工", "人数", "staff", "employees", "headcount", "workforce"],
    "cash flow": ["经营性现金流", "经营活动现金流", "现金流量", "现金流", "cash flow", "cash flows"],
    "cash": ["现金及等价物", "货币资金", "现金", "cash"],
    "exchange": ["汇兑收益", "汇兑损失", "汇兑", "汇率", "exchange gain", "exchange gains", "FX"],
    "inventory": ["存货", "库存", "inventory", "inventories"],
    "expenses": ["费用", "expense", "expenses"],
    "capex": ["资本支出", "capex", "capital expenditure"],
    "orders": ["订单", "orders", "backlog"],
    "market share": ["市场份额", "市占率", "占有率", "market share"],
    "domestic": ["国内", "境内", "domestic"],
    "overseas": ["海外", "境外", "国外", "overseas", "international", "abroad"],
    "Q1": ["第一季度", "一季度", "1季度", "Q1", "1Q", "first quarter"],
    "Q2": ["第二季度", "二季度", "2季度", "Q2", "2Q", "second quarter"],
    "Q3": ["第三季度", "三季度", "3季度", "Q3", "3Q", "third quarter"],
    "Q4": ["第四季度", "四季度", "4季度", "Q4", "4Q", "fourth quarter"],
    "H1": ["上半年", "半年度", "H1", "first half", "half-year", "half year", "interim"],
    "H2": ["下半年", "H2", "second half"],
}
PERIODS = frozenset({"Q1", "Q2", "Q3", "Q4", "H1", "H2"})
REGIONS = frozenset({"domestic", "overseas"})
#: a claim naming the general measure is held by the specific one (利润 by 净利润)
_PARENT = {"net profit": "profit", "gross margin": "profit"}
_MEASURE = re.compile(
    rf"(?<![A-Za-z])(?:{_alternation(s for ss in MEASURES.values() for s in ss)})", re.IGNORECASE
)
_MEASURE_OF = {s.lower(): m for m, ss in MEASURES.items() for s in ss}
#: segment and product acronyms (PBG, EBG, SMBG) name what a figure measures too
_ACRONYM = re.compile(r"(?<![A-Za-z])[A-Z]{2,6}(?![A-Za-z])")
#: a business segment named before the number: 移动智能终端业务收入 is not 智能驾驶业务收入
_SEGMENT = re.compile(r"([A-Za-z][A-Za-z0-9]*|[\u4e00-\u9fff]{2})\s*(?=业务|事业群|板块|产品线|分部)")
#: a percentage the passage gives as a change (增长 11.97%, 同比增速 18.11%), not as a level (占比 63.64%)
_CHANGE = re.compile(
    rf"增速|增幅|增长率|同比|环比|变动|变化|比上年|(?<![A-Za-z])(?:{_alternation([*_UP, *_DOWN, 'change', 'yoy'])})",
    re.IGNORECASE,
)
_NOT_ACRONYMS = {"RMB", "CNY", "USD", "HKD", "EUR", "JPY", "YOY", "EPS", "FX", "BN", "MN", "PCT", "PP"}


def measures(text: str) -> set[str]:
    """The measures a text names (营业收入 → revenue, 归母净利润 → net profit, 一季度 → Q1)."""
    return {_MEASURE_OF[m.group().lower()] for m in _MEASURE.finditer(text)}


def acronyms(text: str) -> set[str]:
    return {m.group() for m in _ACRONYM.finditer(text)} - _NOT_ACRONYMS


# figures ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A number as a text states it."""

    text: str  # as written, with its scale and unit ("65.55 亿元")
    start: int
    end: int
    digits: str  # the numeral as written ("002415", "两")
    value: Decimal  # the printed number × its scale, without sign
    unit: str = ""  # canonical (CNY, %, 股, count, 年 …); "" when none is printed
    scaled: bool = False  # printed with 万/亿/million …
    negative: bool = False
    per: str = ""  # the shares an amount is per: "10股" for 每10股派7元
    role: str = ""  # "per": the 10 of 每10股; "header": a header field (not evidence for amounts)
    before: str = ""  # the clause's words up to the number (what the claim says it measures)
    sentence: str = ""  # the sentence up to the number (what a passage says it measures) …
    after: str = ""  # … and the rest of its clause ("1.2 亿元的研发投入")
    paragraph: str = ""  # the paragraph up to the number (where a region is said)
    prefix: str = ""  # the whole text up to the number (where a period is said: 2024年上半年，…)
    direction: str = ""  # "up" / "down": the 增长/下降 (or the minus sign) that governs it

    @property
    def amount(self) -> bool:
        """Money, a share, a ratio or a multiple: what must match in unit, scale and meaning."""
        return self.unit in AMOUNT_UNITS or self.scaled

    @property
    def label(self) -> str:
        """Compact, for problem messages: "65.55亿元", "每10股 7元"."""
        t = re.sub(r"\s+", "", self.text)
        return f"{'-' if self.negative else ''}{t}" + (f" (每{self.per})" if self.per else "")


def _tokens(text: str, *, lenient: bool) -> list[tuple[int, int, str, Decimal, str]]:
    """``(start, end, digits, value, kind)`` of every numeral; kind: arabic, cn, word, month, percent."""
    out: list[tuple[int, int, str, Decimal, str]] = []
    taken: list[tuple[int, int]] = []
    for m in _PERCENT_CN.finditer(text):
        v = decimal(m.group(1)) if m.group(1)[0].isdigit() else _cn_decimal(m.group(1))
        if v is not None:
            out.append((m.start(), m.end(), m.group(1), v, "percent"))
            taken.append(m.span())

    def free(a: int, b: int) -> bool:
        return not any(x < b and a < y for x, y in taken)

    for m in ARABIC.finditer(text):
        v = decimal(m.group())
        a = m.start()
        letter = text[a - 1].upper() if a else ""
        if letter in ("Q", "H") and m.group() in ("1", "2", "3", "4") and not text[a - 2 : a - 1].isalpha():
            if letter == "Q":  # Q3 is the third quarter; H1 is a half-year, a period, not a number
                out.append((a, m.end(), m.group(), v, "quarter"))
        elif v is not None and free(*m.span()):
            out.append((m.start(), m.end(), m.group(), v, "arabic"))
    for m in CN_NUMERAL.finditer(text):
        after = text[m.end() : m.end() + 1]
        if not free(*m.span()):
            continue
        if lenient or (after and CN_UNIT_AFTER.match(after)) or len(m.group()) > 1:
            v = cn_value(m.group())
            if v is not None:
                out.append((m.start(), m.end(), m.group(), Decimal(v), "cn"))
    if not lenient:
        for m in re.finditer(r"[A-Za-z]+", text):
            w, lw = m.group(), m.group().lower()
            if lw in EN_NUMBERS:
                out.append((m.start(), m.end(), w, Decimal(EN_NUMBERS[lw]), "word"))
            elif lw in MONTHS_EN and (w[0].isupper() or lw not in ("may", "march")):
                out.append((m.start(), m.end(), w, Decimal(MONTHS_EN[lw]), "month"))
    return sorted(out)


def figures(text: str, *, lenient: bool = False) -> list[Figure]:
    """Every number ``text`` states, with unit, scale, per-share basis, context and direction.

    ``lenient`` (for evidence) reads every Chinese numeral run; in a claim only runs before a unit
    or of two characters or more count (一些/统一 are words, 两家/第三季度 are numbers), and
    English number words and month names count too.
    """
    raw: list[Figure] = []
    covered = 0  # the end of the last figure: 亿 of "65.55亿" is its scale, not a number of its own
    for a, b, digits, value, kind in _tokens(text, lenient=lenient):
        if a < covered:
            continue
        unit, scaled, end = "", False, b
        if kind == "percent":
            unit = "%"
        elif kind == "quarter":
            unit = "季度"
        elif kind == "month":
            unit = "月"
        else:
            m = _AFTER.match(text, b)
            if m and (m.group("scale") or m.group("unit")):
                scale = m.group("scale")
                if scale and not (kind == "cn" and scale.isascii()):
                    value *= _SCALES[scale.lower()]
                    scaled = True
                if m.group("unit"):
                    unit = _UNIT_OF[m.group("unit").lower()]
                end = m.end() if (scale or m.group("unit")) else b
            if kind == "cn" and re.search("[万亿]", digits):
                scaled = True
            prefix = _BEFORE_CURRENCY.search(text, 0, a)
            if prefix and not unit:
                unit = _PREFIX_CURRENCY[prefix.group().strip().lower()]
        negative = kind == "arabic" and a > 0 and text[a - 1] in "-−－" and not text[a - 2 : a - 1].isalnum()
        covered = end
        raw.append(Figure(text=text[a:end], start=a, end=end, digits=digits, value=value, unit=unit,
                          scaled=scaled, negative=negative))  # fmt: skip
    return _in_context(text, raw)


def _in_context(text: str, figs: list[Figure]) -> list[Figure]:
    """Each figure with its per-share basis, its clause and sentence words and its direction."""
    per_spans: list[tuple[int, int, str]] = []
    for m in _PER_BEFORE.finditer(text):
        per_spans.append((m.start(), m.end(), _per_count(m.group(1))))
    out: list[Figure] = []
    for i, f in enumerate(figs):
        clause = _start(CLAUSE_END, text, f.start)
        sentence = _start(SENTENCE_END, text, f.start)
        role = "per" if any(a <= f.start < b for a, b, _ in per_spans) else ""
        # the words since the clause began, or since the last amount before it in the clause
        since = clause
        for g in figs[:i]:
            amount = g.unit in AMOUNT_UNITS or g.scaled
            if amount and since < g.end <= f.start and not any(a <= g.start < b for a, b, _ in per_spans):
                since = g.end
        per = ""
        if f.unit in CURRENCIES:
            before = [p for p in per_spans if clause <= p[0] and p[1] <= f.start]
            # 每10股 governs the first amount after it, not one past another amount
            if before and not any(
                g.unit in CURRENCIES and before[-1][1] <= g.start and g.end <= f.start for g in figs
            ):
                per = before[-1][2]
            m = _PER_AFTER.match(text, f.end)
            if m:
                per = _per_count(m.group(1) or m.group(2))
            elif not per and _PER_SHARE_MEASURE.search(text, clause, f.start):
                per = "1股"  # EPS of 0.5 yuan is 每股收益0.5元
        words = text[since : f.start]
        d = [m for m in _DIRECTION.finditer(words)]
        direction = "down" if f.negative else ("up" if d and d[-1].group("up") else "down" if d else "")
        after = min([_clause_end(text, f.end), *(g.start for g in figs[i + 1 :] if g.amount)])
        out.append(
            replace(
                f,
                per=per,
                role=role,
                before=words,
                sentence=text[sentence : f.start],
                after=text[f.end : after],
                paragraph=text[text.rfind("\n", 0, f.start) + 1 : f.start],
                prefix=text[: f.start],
                direction=direction,
            )
        )
    return out


def _clause_end(text: str, pos: int) -> int:
    m = CLAUSE_END.search(text, pos)
    return m.start() if m else len(text)


def _per_count(n: str | None) -> str:
    if not n:
        return "1股"
    if n.isdigit():
        return f"{int(n)}股"
    v = cn_value(n) if CN_NUMERAL.fullmatch(n) else EN_NUMBERS.get(n.lower())
    return f"{v}股" if v is not None else f"{n}股"


def _start(boundary: re.Pattern[str], text: str, pos: int) -> int:
    """Where the clause (or sentence) holding ``pos`` begins."""
    last = 0
    for m in boundary.finditer(text, 0, pos):
        last = m.end()
    return last


# support ----------------------------------------------------------------------------------------


def supports(held: Figure, claim: Figure, names: Iterable[str] = ()) -> str | None:
    """None when the passage's ``held`` figure holds the ``claim``; else why not, in a few words.

    Same value × scale; the same amount unit (a passage's bare 162.01亿 may be read as yuan, the
    one assumption made); the same per-share basis; every measure and acronym the claim names
    before its number named in the passage's sentence before its number or in the rest of its
    clause; no opposite direction.
    A header field (证券代码, 编号, the record's date) holds only a bare number or a date, as
    printed: 002415 is not 2415元, nor 2415.
    """
    if held.value != claim.value:
        return "value"
    if held.role == "header":
        if claim.amount:
            return "only in the record's header (code, number or date), which is no amount"
        if held.digits != claim.digits and held.unit not in TIME_UNITS:
            return "only in the record's header, written otherwise"
        if claim.unit and held.unit and held.unit != claim.unit:
            return f"unit ({held.unit} in the header)"
        return None
    if claim.unit in AMOUNT_UNITS:
        if held.unit != claim.unit and not (claim.unit in CURRENCIES and not held.unit and held.scaled):
            return f"unit ({held.unit or 'none'} in the passage)"
    elif claim.unit and held.unit and held.unit != claim.unit:
        return f"unit ({held.unit} in the passage)"
    if claim.role == "per":
        return None
    if claim.per != held.per and claim.unit in CURRENCIES:
        return f"per-share basis ({'每' + held.per if held.per else 'a total'} in the passage)"
    if claim.direction and held.direction and claim.direction != held.direction:
        return f"direction ({'增长' if held.direction == 'up' else '下降'} in the passage)"
    if (
        claim.unit in ("%", "pp")
        and claim.direction
        and not held.direction
        and not _CHANGE.search(held.sentence)
    ):
        return "the passage gives it as a level, not as a change"
    if claim.amount:
        near = held.sentence + held.after
        have = measures(near) | (measures(held.paragraph) & REGIONS) | (measures(held.prefix) & PERIODS)
        have |= {_PARENT[m] for m in have if m in _PARENT}
        lacking = sorted(measures(claim.before) - have)
        lacking += sorted(
            a
            for a in acronyms(claim.before) | {m.group(1) for m in _SEGMENT.finditer(claim.before)}
            if a not in near and not any(a in n for n in names)
        )
        if lacking:
            return f"the passage does not give it for {', '.join(lacking)}"
    return None


def header_figures(fields: Iterable[str]) -> list[Figure]:
    """Figures of a record's header fields, marked so that they never hold an amount."""
    return [replace(f, role="header") for field in fields if field for f in figures(field, lenient=True)]
