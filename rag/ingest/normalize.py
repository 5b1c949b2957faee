r"""Normalize extracted filing text so that lines are paragraphs and spans are stable.

PDF extraction hard-wraps every line at the page width, adds page numbers mid-sentence and
sometimes blank lines between all lines; Word exports leave ``[bookmark: …]`` tags. Normalizing
undoes that, and only that: no visible character of the source is dropped except bookmark tags
and page-number lines, so every answer sentence survives for citation.

    >>> normalize_text("收入同比增长 [bookmark: _GoBack]2.14%。 \r\n\r\n\r\n 15 \r\n下一段。")
    '收入同比增长 2.14%。\n下一段。'

Re-joining wrapped lines needs evidence: the document must look hard-wrapped (many lines of
near-equal display width that end mid-sentence), so one-paragraph-per-line text is left alone.

Justified PDF lines are sometimes letter-spaced ("公 积 转 增"): a line with a run of single
CJK characters each followed by one space loses the spaces between CJK characters, so words
and quotes match again. Spaces are not visible text; nothing else changes.

    >>> normalize_text("12、 公 司 一 季 度 末 存 货 242.90 亿 元 ， 环 比 增 长")
    '12、公司一季度末存货 242.90 亿元，环比增长'
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = [
    "ANSWER_RE",
    "HEADING_RE",
    "QUESTION_RE",
    "Normalized",
    "display_width",
    "normalize",
    "normalize_text",
]

_BOOKMARK_RE = re.compile(r"\[bookmark:[^\]\n]*\]")
_INVISIBLE_RE = re.compile("[\ufeff\u200b\u200c\u200d\u2060]")
_BARE_NUMBER_RE = re.compile(r"^\s*\d{1,3}\s*$")
_DECORATED_PAGE_RE = re.compile(
    r"^\s*(?:[-–—]\s*\d{1,4}\s*[-–—]"  # - 3 -
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"  # 第 3 页 / 第3页 共12页
    r"|\d{1,4}\s*/\s*\d{1,4}"  # 3/12
    r"|(?:page|Page|PAGE)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)\s*$"
)
_NUMERIC_LINE_RE = re.compile(r"^[\s\d.,/\-–—%]+$")
_LAYOUT_RE = re.compile(r"\S {4,}\S")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_LETTER_SPACED_RE = re.compile(rf"(?:[{_CJK}] ){{5,}}[{_CJK}]")  # 公 积 转 增 …
_CJK_GAP_RE = re.compile(
    rf"(?<=[{_CJK}])[ \u3000]+(?=[{_CJK}])"
)  # columns laid out with spaces: a table row, never prose
# "…汇总如下：" | "1、请问，贵公司…": a numbered question after a colon starts the Q&A list
_ASKING_RE = re.compile(r"^\S{1,4}\s*(?:请|麻烦|能否)|[？?]|如何|是否|什么|哪|多少|怎")
_GREETING_RE = re.compile(r"^(?:尊敬的)?(?:投资者)?您好[，,！!。]")
_FIRST_WORD_RE = re.compile(r"[A-Za-z0-9][\x21-\x7e]*")
_SENTENCE_END = "。！？!?…"
_CLOSERS = "”’」』）)》】\"'"

_CN_NUM = "一二三四五六七八九十百"
# Markers shared with the parser: a line starting with one of these is never glued to the line
# before it.
QUESTION_RE = re.compile(
    r"^(?:(?P<q>[Qq])\s*(?:(?P<qn>\d+)\s*(?:[：:]|[.．、](?!\d))|[：:])"
    rf"|(?P<w>(?:投资者)?(?:提问|问题|问)\s*(?P<wn>[0-9{_CN_NUM}]+)?)\s*[：:])"
)
ANSWER_RE = re.compile(r"^(?:[Aa]\s*\d*|(?:公司|董秘|管理层)?(?:回答|回复|答复|答))\s*[：:]")
HEADING_RE = re.compile(rf"^(?:第[0-9{_CN_NUM}]+部分|[{_CN_NUM}]+[、.．]|[（(][{_CN_NUM}]+[）)])")
NUMBERED_RE = re.compile(r"^(?:\d{1,2}[、.．]|[（(]\d{1,2}[）)])(?!\d)")
_LABEL_RE = re.compile(
    r"^(?:证券代码|证券简称|编号\s*[：:]|投\s*资\s*者\s*关\s*系|参与单位|上市公司接待|公司接待"
    r"|时\s*间\s*(?:[：:]|\d|$)|地\s*点\s*(?:[：:]|$|\s)|日\s*期\s*(?:[：:]|\d|$)|附件清单)"
)


@dataclass
class Normalized:
    """Normalized text plus what was deliberately dropped (for audits and tests)."""

    text: str
    page_numbers: list[str] = field(default_factory=list)  # removed page-number lines, stripped
    hard_wrapped: bool = False


@dataclass
class _Line:
    text: str  # stripped
    gap: int = 0  # blank lines before it
    soft: bool = False  # a removed page number sits in the gap before it


def normalize_text(raw: str) -> str:
    """The normalized text only; see ``normalize``."""
    return normalize(raw).text


def normalize(raw: str) -> Normalized:
    """Normalize newlines, drop bookmarks and page numbers, re-join hard-wrapped lines."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _INVISIBLE_RE.sub("", _BOOKMARK_RE.sub("", text))
    lines, page_numbers = _drop_page_numbers([_unspace(s) for s in text.split("\n")])
    double_spaced = _double_spaced(lines)
    wrap_width = _wrap_width(lines)
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == 0:
            out.append(line.text)
            continue
        prev = lines[i - 1]
        breaks = line.gap >= (2 if double_spaced else 1) and not line.soft
        if breaks:
            out.append("\n\n" + line.text)
        elif wrap_width and _continues(prev.text, line.text, wrap_width):
            out.append(_glue(prev.text, line.text) + line.text)
        else:
            out.append("\n" + line.text)
    return Normalized("".join(out).strip(), page_numbers, bool(wrap_width))


def display_width(s: str) -> int:
    """Columns ``s`` takes in a monospace CJK layout (wide and full-width characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _unspace(line: str) -> str:
    """A letter-spaced line (a run of six CJK characters, each one space apart) without the
    spaces between CJK characters; other lines unchanged. Spaces next to ASCII stay."""
    if not _LETTER_SPACED_RE.search(line):
        return line
    return _CJK_GAP_RE.sub("", line)


def _drop_page_numbers(raw_lines: list[str]) -> tuple[list[_Line], list[str]]:
    """Collect text lines with the blank gap before each; remove page numbers that split text.

    A bare number is only a page number when bare numbers are far apart: a column of
    consecutive small numbers is a table's index column, which is data.
    """
    stripped = [s.strip() for s in raw_lines]
    content = [i for i, s in enumerate(stripped) if s]
    bare_ok = _far_apart([k for k, i in enumerate(content) if _BARE_NUMBER_RE.match(stripped[i])])
    drop: set[int] = set()
    for k, i in enumerate(content):
        s = stripped[i]
        if not (_DECORATED_PAGE_RE.match(s) or (bare_ok and _BARE_NUMBER_RE.match(s))):
            continue
        before = stripped[content[k - 1]] if k > 0 else ""
        after = stripped[content[k + 1]] if k + 1 < len(content) else ""
        if before and after and not _NUMERIC_LINE_RE.match(before) and not _NUMERIC_LINE_RE.match(after):
            drop.add(i)
    lines: list[_Line] = []
    gap, soft = 0, False
    for i, s in enumerate(stripped):
        if i in drop:
            soft = True
        elif not s:
            gap += 1
        else:
            lines.append(_Line(s, gap, soft))
            gap, soft = 0, False
    return lines, [stripped[i] for i in sorted(drop)]


def _far_apart(positions: list[int]) -> bool:
    if len(positions) < 2:
        return True
    gaps = sorted(b - a for a, b in itertools.pairwise(positions))
    return gaps[len(gaps) // 2] >= 8


def _double_spaced(lines: list[_Line]) -> bool:
    """True when nearly every line is followed by a blank line, so one blank line means nothing."""
    if len(lines) < 6:
        return False
    spaced = sum(1 for line in lines[1:] if line.gap >= 1)
    return spaced >= 0.7 * (len(lines) - 1)


def _wrap_width(lines: list[_Line]) -> int:
    """The fixed width a hard-wrapped document was cut at, or 0 when lines are paragraphs.

    Hard-wrapped text has a big cluster of lines at (almost) the same display width: the width
    of the page. Paragraph-per-line text has widths all over the place. A PDF whose body sits in
    a table cell also has many short label and list lines, so the cluster may be a third of the
    lines; it still counts when most of its lines stop mid-sentence, which full lines cut by a
    page width do and paragraphs never do.
    """
    texts = [line.text for line in lines if not _LAYOUT_RE.search(line.text)]
    texts = [t for t in texts if display_width(t) >= 10]
    if len(texts) < 8:
        return 0
    widths = sorted(display_width(t) for t in texts)
    top = widths[int(0.9 * (len(widths) - 1))]
    if not 20 <= top <= 240:
        return 0
    low, high = top - max(4, top // 10), top + max(2, top // 20)
    near = [t for t in texts if low <= display_width(t) <= high]
    if len(near) >= 0.5 * len(texts):
        return top
    cut = sum(1 for t in near if t.rstrip(_CLOSERS)[-1:] not in _SENTENCE_END + "；;：:")
    return top if len(near) >= max(8, 0.25 * len(texts)) and cut >= 0.7 * len(near) else 0


def _continues(prev: str, line: str, wrap_width: int) -> bool:
    """Whether ``line`` is the rest of ``prev``'s sentence, cut only by the page width."""
    if _LAYOUT_RE.search(prev) or _LAYOUT_RE.search(line):
        return False
    first_word = _FIRST_WORD_RE.match(line)
    needed = display_width(first_word.group() if first_word else line[:1])
    if display_width(prev) + needed < wrap_width - max(4, wrap_width // 10):
        return False  # the next line's first word would have fitted: prev ended its paragraph
    if prev.rstrip(_CLOSERS)[-1:] in _SENTENCE_END:
        return False  # a full line ending a sentence: keep the paragraph break if there was one
    return not (
        QUESTION_RE.match(line)
        or ANSWER_RE.match(line)
        or HEADING_RE.match(line)
        or (NUMBERED_RE.match(line) and line.rstrip()[-1:] in "？?")  # "2、…？" asks; "（2）…；" lists
        or (NUMBERED_RE.match(line) and prev.rstrip()[-1:] in "：:" and _ASKING_RE.search(line))
        or (NUMBERED_RE.match(line) and prev.rstrip().endswith(("谢谢", "谢谢您")))  # a reply's sign-off
        or _GREETING_RE.match(line)  # "…的计划" | "您好，公司目前…": a reply starts, not a wrap
        or _LABEL_RE.match(line)
    )


def _glue(prev: str, line: str) -> str:
    """A space between two ASCII words; nothing when either side is CJK or punctuation."""
    a, b = prev[-1:], line[:1]
    if a.isascii() and b.isascii() and b.isalnum() and (a.isalnum() or a in ",.;:!?)%"):
        return " "
    return ""
