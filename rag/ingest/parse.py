"""Parse an investor-relations record (投资者关系活动记录表) into a typed ``Filing``.

The record is a header table (证券代码, 活动类别, 参与单位, 时间, 地点, 接待人员 …), a body
(投资者关系活动主要内容介绍) of narrative sections and Q&A pairs, and a footer (附件清单, 日期).
Labels are matched whitespace-insensitively at line starts because PDF and Word exports split
and space them ("投 资 者 关 系 / 活动主要内容 / 介绍"). All spans index ``Filing.text``.

Published records ask in three ways, often mixed in one record, so each section (split at
一、/（一） headings) is read on its own:

- labelled questions: 问：, Q1：, 问题1：, 投资者提问：, answered by 答：/回复：/A1： or unlabelled text;
- answer labels only: "1、公司…" then "答：…": the question is the numbered line(s) above the label;
- no labels at all: a numbered line or heading is a question when it asks (a question mark, a
  question word, a request such as 请介绍…), when its number continues the questions before it
  and it still reads as one (…有没有给小股东们一点信心。), or when the record announces the list
  as its questions (具体问题及回复如下：); everything else (agenda items, 公司概况, answer lists)
  is narrative.

An answer runs to the next question, a heading, or the record's closing statement
(接待过程中严格按照相关规定…, ☆ 本次调研…), which is kept as narrative.

The pipeline calls it on text that ``normalize`` already cleaned (``parse_normalized``);
``parse_text`` is the convenience for raw text.

    >>> from irqa.rag.engine import sample_dir
    >>> raw = (sample_dir() / "688088_arcsoft_2024-007.txt").read_text(encoding="utf-8")
    >>> f = parse_text(raw, "688088_arcsoft_2024-007.txt")
    >>> f.id, len(f.qa_pairs), f.qa_pairs[1].label
    ('688088-2024-007', 5, 'Q2')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from irqa.rag.errors import FilingError, NotARecord
from irqa.rag.ingest.normalize import ANSWER_RE, HEADING_RE, QUESTION_RE, normalize_text
from irqa.rag.models import Filing, FilingHeader, Segment, Span

__all__ = ["check_structure", "parse_normalized", "parse_text", "unique_ids"]

_MIN_CHARS = 20  # fewer non-space characters than this cannot be a record

_TICKS = "√☑■✓✔☒▣"
_BOXES = "□☐"
_OTHER_PLACEHOLDER = re.compile(r"请?文字说明其他活动内容|请注明|如有")
_ITEM_RE = re.compile(rf"([{_TICKS}{_BOXES}]?)\s*([^\s{_TICKS}{_BOXES}]+)")

# (field, label) in the order they are tried at a line start; longer variants first.
_HEADER_LABELS: tuple[tuple[str, str], ...] = (
    ("types", "投资者关系活动类别"),
    ("participants", "参与单位名称及人员姓名"),
    ("participants", "参与单位名称"),
    ("participants", "参会单位名称"),
    ("time", "时间"),
    ("place", "地点及会议主题"),
    ("place", "地点"),
    ("staff", "上市公司接待人员姓名"),
    ("staff", "公司接待人员姓名"),
    ("staff", "接待人员姓名"),
    ("staff", "接待人员"),
)
_BODY_LABELS = ("投资者关系活动主要内容介绍", "活动主要内容介绍", "主要内容介绍")
_FOOTER_LABELS: tuple[tuple[str, str], ...] = (
    ("disclosure", "关于本次活动是否涉及应披露重大信息的说明"),  # SZSE template, before 附件清单
    ("attachments", "附件清单"),
    ("date", "日期"),
)
_SHORT_LABELS = {"时间", "地点", "日期"}  # also common words: need a separator or digit after

# Full-width digits (６８８０８８) occur in Word exports; codes are NFKC-folded to ASCII.
_CODE_RE = re.compile(r"(?:证券|股票)代码\s*[：:]\s*([0-9０-９]{6})(?![0-9０-９])")
_SHORT_NAME_RE = re.compile(r"(?:证券|股票)简称\s*[：:]\s*(\S+)")
_RECORD_NO_RE = re.compile(r"编\s*号\s*[：:]\s*([^\s，,；;]+)")
_TITLE = "投资者关系活动记录表"
_DATE_RE = re.compile(
    r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})"  # 2024年08月27日
    r"|(?P<y2>\d{4})[-/.](?P<m2>\d{1,2})[-/.](?P<d2>\d{1,2})(?!\d)"  # 2024-08-27
    r"|(?P<m3>\d{1,2})\s*月\s*(?P<d3>\d{1,2})\s*[日号]"  # 7月28日: year inherited
    r"|(?P<d4>\d{1,2})\s*[日号]"  # 28日: year and month inherited
)
_INLINE_ANSWER_RE = re.compile(r"(?<=[？?])\s*(?:[Aa]|答|回答|回复|答复)\s*[：:]")
_CN = "一二三四五六七八九十"
# list and heading markers: 1、 1. 1 、 （1） 一、 （一）; "2.5G" is a number, not a marker
_MARKER_RE = re.compile(
    rf"^(?:(?P<n>\d{{1,2}})\s*(?:[、．]|\.(?!\d))|[（(]\s*(?P<p>\d{{1,2}})\s*[）)]"
    rf"|(?P<c>[{_CN}]{{1,3}})\s*[、.．]|[（(](?P<cp>[{_CN}]{{1,3}})[）)])\s*"
)
_MARKER_ONLY_RE = re.compile(rf"^(?:[（(]\s*[0-9{_CN}]{{1,3}}\s*[）)]|[0-9]{{1,2}}\s*[、.．])$")
_LOOSE_NUMBER_RE = re.compile(r"^(\d{1,2})\s*[.．](?=\d)")
_RESPONSE_RE = re.compile(r"^(?:公司)?回应(?:如下)?\s*[：:]")  # "公司回应如下：" answers a rumour
_ASKED_RE = re.compile(r"[？?]")
_REQUEST_RE = re.compile(
    r"^(?:请问|请|麻烦|烦请|能否|可否|想了解|想问|想请教|介绍一下|简单介绍|谈谈|分享一下|展望一下)"
)
_QUESTION_WORD_RE = re.compile(
    r"如何|怎么|怎样|什么|哪些|哪里|哪个|哪家|哪几|多少|多大|多久|是否|有没有|有无|能否|可否|能不能"
    r"|会不会|是不是|为何|为什么|为啥|何时|何种|有何|何以|吗(?=$|[，,。！!？?\s])|呢(?=$|[，,。！!？?\s])"
    r"|么(?=$|[，,。！!？?\s])|([\u4e00-\u9fff])不\1"  # 需不需要, 了么
)
# what an investor's remark asks for without asking (请公司…答复, 希望…, 建议…): a question only
# when its number also continues the questions before it
_WEAK_ASK_RE = re.compile(r"请|希望|建议|望公司|恳请|呼吁|还是")
# the closing statement of a record (SZSE template: no undisclosed material information)
_CLOSING_RE = re.compile(
    r"^(?:[☆※★]|[（(]?以上(?:问题|内容|会议纪要|交流内容)|(?:公司)?(?:在)?(?:接待|交流)(?:活动)?(?:过程)?中[，,]?"
    r"(?:公司)?(?:参会人员)?严格|本次(?:调研|活动|交流)(?:中)?(?:未|不)涉及)"
)
_QUESTION_LIST_RE = re.compile(r"(?:问题|问答|提问)[^：:]{0,20}(?:如下|答复|回复|整理)[^：:]{0,6}[：:]\s*$")
_MAX_QUESTION_LINES = 6  # a question (the lines before its answer) is never longer than this
_ATTACHMENT_RE = re.compile(r"^附件(?:清单)?\s*\d*\s*[：:]?\s*(《[^》]+》|\S*(?:清单|名单|名录)\S*)")
_TABLE_HEAD_WORDS = {"公司名称", "单位名称", "机构名称", "姓名", "序号", "人员姓名", "参会人员", "职务"}


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Label:
    field: str
    start: int  # where the label begins
    end: int  # where its value begins (after any colon)


def parse_text(text: str, source: str = "<text>") -> Filing:
    """Parse raw extracted text: normalize, then ``parse_normalized``."""
    return parse_normalized(normalize_text(text), source)


def parse_normalized(norm: str, source: str = "<text>") -> Filing:
    """The header facts and Q&A segments of normalized text; every span indexes ``norm``."""
    if sum(1 for c in norm if not c.isspace()) < _MIN_CHARS:
        raise FilingError(f"{source} has no text an investor-relations record would have")
    lines = _lines(norm)
    header, header_span, body = _parse_header(norm, lines)
    segments = list(_segments(norm, [ln for ln in lines if body[0] <= ln.start < body[1]]))
    content_hash = hashlib.sha256(norm.encode("utf-8")).hexdigest()
    return Filing(
        id=_filing_id(header, content_hash),
        source=source,
        content_hash=content_hash,
        header=header,
        text=norm,
        segments=segments,
        header_span=header_span,
    )


_STRUCTURE_FIELDS = {
    "活动类别": lambda h: h.activity_types,
    "参与单位": lambda h: h.participants,
    "时间": lambda h: h.activity_dates,
    "地点": lambda h: h.place,
    "接待人员": lambda h: h.reception_staff,
    "编号": lambda h: h.record_no,
}


def check_structure(f: Filing) -> None:
    """Refuse text that is not a 投资者关系活动记录表, with the reason (``NotARecord``).

    A record names its company (a 证券代码 or the 投资者关系活动记录表 title) and has either
    Q&A pairs or at least two of the header table's fields. News articles, annual-report
    excerpts and English PDFs have neither, and indexed as "filings" they had an empty company
    and polluted every answer.
    """
    squashed = re.sub(r"\s+", "", f.text[:5000])
    identified = bool(f.header.code) or _TITLE in squashed
    fields = [name for name, get in _STRUCTURE_FIELDS.items() if get(f.header)]
    qa = sum(1 for s in f.segments if s.kind == "qa")
    if identified and (qa or len(fields) >= 2):
        return
    missing = []
    if not identified:
        missing.append("no 证券代码 and no 投资者关系活动记录表 title")
    if not qa and len(fields) < 2:
        found = f"only {'/'.join(fields)}" if fields else "none"
        missing.append(
            f"no Q&A pairs and {found} of the header fields (活动类别, 参与单位, 时间, 地点, 接待人员, 编号)"
        )
    raise NotARecord(
        f"{f.source} is not an investor-relations activity record (投资者关系活动记录表): "
        f"{'; '.join(missing)}. To index it anyway use 'irqa ingest --allow-unstructured'"
    )


def _filing_id(header: FilingHeader, content_hash: str) -> str:
    """A readable, stable id: ``<code>-<编号>``; for a record without 编号 ``<code>-<YYYY-MM-DD>``
    from the activity date (时间, the date cninfo titles carry; else the record date 日期);
    ``sha-<hash>`` only when the code or any date is missing. Two records of one company on one
    day without 编号 would share an id: ``unique_ids`` numbers them ``-2``, ``-3`` in a batch."""
    if header.code and header.record_no:
        raw = f"{header.code}-{header.record_no}"
        clean = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", raw)).strip("-")
        if clean:
            return clean
    day = header.activity_dates[0] if header.activity_dates else header.record_date
    if header.code and day:
        return f"{header.code}-{day.isoformat()}"
    return "sha-" + content_hash[:16]


def unique_ids(filings: list[Filing]) -> list[Filing]:
    """The filings with ids unique in the batch: when records without 编号 of one company share
    a date (hence an id), the first by source name keeps it and the others become ``<id>-2``,
    ``<id>-3`` …; a copy of one file (same source) is left alone, as the same record."""
    groups: dict[str, list[Filing]] = {}
    for f in filings:
        groups.setdefault(f.id, []).append(f)
    renamed: dict[int, str] = {}
    for fid, group in groups.items():
        sources = sorted({f.source for f in group})
        if len(sources) < 2:
            continue
        for f in group:
            k = sources.index(f.source)
            if k:
                renamed[id(f)] = f"{fid}-{k + 1}"
    return [f.model_copy(update={"id": renamed[id(f)]}) if id(f) in renamed else f for f in filings]


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for raw in text.split("\n"):
        out.append(_Line(pos, pos + len(raw), raw))
        pos += len(raw) + 1
    return out


# ---------------------------------------------------------------- labels


class _Squashed:
    """The text without whitespace, with a map back to offsets: labels are matched here."""

    def __init__(self, text: str) -> None:
        self.pos = [i for i, c in enumerate(text) if not c.isspace()]
        self.chars = "".join(text[i] for i in self.pos)
        self._index = {p: k for k, p in enumerate(self.pos)}
        self.text = text

    def match_at(self, offset: int, label: str) -> int | None:
        """End offset of ``label`` starting at ``offset`` (a non-space char), ignoring whitespace."""
        k = self._index.get(offset)
        if k is None or not self.chars.startswith(label, k):
            return None
        end = self.pos[k + len(label) - 1] + 1
        if label in _SHORT_LABELS:
            after = self.text[end : end + 1]
            if after and not (after.isspace() or after in "：:" or after.isdigit()):
                return None
        rest = self.text[end:]
        colon = re.match(r"[ \t]*[：:]", rest)
        return end + colon.end() if colon else end


def _find_label(sq: _Squashed, line: _Line, labels: tuple[tuple[str, str], ...]) -> _Label | None:
    if not line.text:
        return None
    for field, label in labels:
        end = sq.match_at(line.start, label)
        if end is not None:
            return _Label(field, line.start, end)
    return None


# ---------------------------------------------------------------- header


def _parse_header(text: str, lines: list[_Line]) -> tuple[FilingHeader, Span | None, tuple[int, int]]:
    """Header facts, the header table's span, and the body's ``(start, end)`` offsets."""
    sq = _Squashed(text)
    body_label = next(
        (lab for ln in lines if (lab := _find_label(sq, ln, tuple(("body", b) for b in _BODY_LABELS)))),
        None,
    )
    head_end = body_label.start if body_label else len(text)
    labels: list[_Label] = []
    seen: set[str] = set()
    for ln in lines:
        if ln.start >= head_end:
            break
        lab = _find_label(sq, ln, _HEADER_LABELS)
        if lab and lab.field not in seen:
            seen.add(lab.field)
            labels.append(lab)

    values: dict[str, str] = {}
    value_end = 0
    for k, lab in enumerate(labels):
        nxt = labels[k + 1] if k + 1 < len(labels) else None
        start, end = lab.end, nxt.start if nxt else head_end
        if nxt is None and body_label is None:  # no body label: the last value is one block
            content = start + len(text[start:end]) - len(text[start:end].lstrip())
            gap = text.find("\n\n", content, end)
            end = gap if gap >= 0 else end
        values[lab.field] = text[start:end].strip()
        value_end = end
    body_start = body_label.end if body_label else max(value_end, _preamble_end(lines))
    body_end, record_date, tail = _parse_footer(text, lines, sq, body_start)

    preamble = text[: labels[0].start if labels else head_end]
    header = FilingHeader(
        code=_first(_CODE_RE, preamble) or _first(_CODE_RE, text[:head_end]),
        short_name=_first(_SHORT_NAME_RE, preamble) or _first(_SHORT_NAME_RE, text[:head_end]),
        company=_company(text[:head_end], lines),
        record_no=_first(_RECORD_NO_RE, preamble) or _first(_RECORD_NO_RE, text[:head_end]),
        activity_types=_activity_types(values.get("types", "")),
        participants=_participants(values.get("participants", ""), tail),
        activity_dates=_dates(values.get("time", "")),
        place=_collapse(values.get("place", "")),
        reception_staff=[_collapse(s) for s in values.get("staff", "").split("\n") if s.strip()],
        record_date=next(iter(_dates(record_date)), None),
    )
    header_span = None
    if labels or header.code or header.record_no:
        span_end = body_label.start if body_label else body_start
        head = text[:span_end].rstrip()
        first = len(head) - len(head.lstrip())
        header_span = Span(start=first, end=len(head))
    return header, header_span, (body_start, body_end)


def _preamble_end(lines: list[_Line]) -> int:
    """End of the title lines (code, name, company, 编号) at the top of a record without a table."""
    end = 0
    for ln in lines:
        s = ln.text
        if not s:
            continue
        squashed = re.sub(r"\s+", "", s)
        if (
            _CODE_RE.search(s)
            or _SHORT_NAME_RE.search(s)
            or _RECORD_NO_RE.match(s)
            or _TITLE in squashed
            or (squashed.endswith("公司") and len(squashed) <= 40)
        ):
            end = ln.end
            continue
        break
    return end


def _first(pattern: re.Pattern[str], text: str) -> str:
    """The first match's group, NFKC-folded: full-width digits and letters become ASCII."""
    m = pattern.search(text)
    return unicodedata.normalize("NFKC", m.group(1)).strip() if m else ""


def _collapse(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _company(head: str, lines: list[_Line]) -> str:
    """The full name: the text before 投资者关系活动记录表, on its line or the line above."""
    sq = _Squashed(head)
    k = sq.chars.find(_TITLE)
    if k >= 0:
        title_at = sq.pos[k]
        line = next((ln for ln in lines if ln.start <= title_at <= ln.end), None)
        if line:
            prefix = re.sub(r"\s+", "", head[line.start : title_at])
            if "公司" in prefix:
                return prefix
            above = [ln.text.strip() for ln in lines if ln.end < line.start and ln.text.strip()]
            for candidate in reversed(above[-2:]):
                if candidate.endswith("公司"):
                    return re.sub(r"\s+", "", candidate)
    for ln in lines[:15]:
        if ln.start < len(head) and re.search(r"有限公司$", ln.text.strip()):
            return re.sub(r"\s+", "", ln.text)
    return ""


def _activity_types(value: str) -> list[str]:
    """Ticked options; when ticks were lost, the options without a box are the ticked ones."""
    items: list[tuple[str, str]] = []  # (mark, option)
    for line in value.split("\n"):
        before, other = line, ""
        at = line.find("其他")
        if at >= 0:
            before, other = line[:at], line[at + 2 :]
        mark_of_other = ""
        stripped = before.rstrip()
        if at >= 0 and stripped[-1:] and stripped[-1] in _TICKS + _BOXES:
            mark_of_other, before = stripped[-1], stripped[:-1]
        items.extend((m.group(1), m.group(2)) for m in _ITEM_RE.finditer(before))
        if at >= 0:
            desc = _OTHER_PLACEHOLDER.sub("", other)
            desc = re.sub(r"\s+", "", desc).strip("（）()：:、 ")
            items.append((mark_of_other, f"其他（{desc}）" if desc else "其他"))
    if not items:
        return []
    if any(mark and mark in _TICKS for mark, _ in items):
        return [opt for mark, opt in items if mark and mark in _TICKS]
    boxed = [opt for mark, opt in items if mark in _BOXES and mark]
    bare = [opt for mark, opt in items if not mark]
    if boxed and bare:
        return bare
    return []


def _dates(value: str) -> list[dt.date]:
    """Every date in ``value``; a bare day or month-day inherits the previous year and month."""
    out: list[dt.date] = []
    year = month = None
    for m in _DATE_RE.finditer(value):
        y = m.group("y") or m.group("y2")
        mo = m.group("m") or m.group("m2") or m.group("m3")
        d = m.group("d") or m.group("d2") or m.group("d3") or m.group("d4")
        year = int(y) if y else year
        month = int(mo) if mo else month
        if year is None or month is None:
            continue
        try:
            date = dt.date(year, month, int(d))
            if not y and out and date < out[-1]:  # "12月30日-1月2日" runs into the next year
                year += 1
                date = date.replace(year=year)
        except ValueError:
            continue
        if date not in out:
            out.append(date)
    return out


# ---------------------------------------------------------------- footer


def _parse_footer(text: str, lines: list[_Line], sq: _Squashed, body_start: int) -> tuple[int, str, str]:
    """Where the body ends, the record date's text, and the attachment text: what follows the
    date line, plus what the 附件清单 cell holds when the list is printed in it (an appended
    participant table, over pages)."""
    labels = []
    for ln in lines:
        if ln.start < body_start:
            continue
        lab = _find_label(sq, ln, _FOOTER_LABELS)
        if lab and (lab.field != "date" or re.match(r"\s*\d", text[lab.end :])):
            labels.append(lab)
    if not labels:
        return len(text), "", ""
    date = next((lab for lab in labels if lab.field == "date"), None)
    if date is None:
        return labels[0].start, "", ""
    value_at = date.end + len(text[date.end :]) - len(text[date.end :].lstrip())
    line_end = text.find("\n", value_at)
    line_end = len(text) if line_end < 0 else line_end
    tail = text[line_end:]
    attach = next((lab for lab in labels if lab.field == "attachments"), None)
    if attach is not None and attach.end < date.start:  # a list printed inside the 附件清单 cell
        tail = text[attach.end : date.start] + "\n" + tail
    return labels[0].start, text[value_at:line_end], tail


def _participants(value: str, tail: str) -> str:
    """The 参与单位 cell, plus an attached attendee list (附件《与会人员清单》) if one follows."""
    out = _collapse(value)
    lines = tail.split("\n")
    for i, line in enumerate(lines):
        m = _ATTACHMENT_RE.match(line.strip())
        if not m:
            continue
        rows = _attachment_rows(lines[i + 1 :])
        if rows:
            listing = f"{m.group(1)}：{'；'.join(rows)}"
            out = f"{out} {listing}" if out else listing
        break
    return out


def _attachment_rows(lines: list[str]) -> list[str]:
    blocks: list[list[str]] = [[]]
    for line in lines:
        s = line.strip()
        if s.startswith(("注：", "注:")):
            break
        if not s:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(s)
    blocks = [b for b in blocks if b]
    if blocks and all(len(b) == 1 for b in blocks) and len(blocks) == 1:
        blocks = [[s] for s in blocks[0]]
    rows = [_collapse(" ".join(b)) for b in blocks]
    return [r for r in rows if not set(r.split()) <= _TABLE_HEAD_WORDS]


# ---------------------------------------------------------------- body


@dataclass(frozen=True)
class _Start:
    """Where a question begins: its line, how it was recognised, and its label as printed.

    ``kind`` is "explicit" (问：/Q1：/问题1：), "implied" (the numbered line before an answer
    label 答：/回复：/A：) or "plain" (a numbered line or heading that asks, in a section with
    no labels at all). ``text_at`` is the offset in the line where the question text begins.
    """

    kind: str
    text_at: int
    label: str


def _is_heading(line: str) -> bool:
    return bool(HEADING_RE.match(line)) and len(line) <= 40 and line[-1] not in "。；，,;"


def _answer_label(line: str) -> re.Match[str] | None:
    return ANSWER_RE.match(line) or _RESPONSE_RE.match(line)


def _numbered(line: str) -> re.Match[str] | None:
    """A list or heading marker (1、 1. （1） 一、 （一）) followed by text on the same line."""
    m = _MARKER_RE.match(line)
    return m if m and m.end() < len(line) else None


def _asks(text: str) -> bool:
    """Whether a numbered line is an investor's question: it has a question mark, is a request
    (请介绍…, 能否…), or uses a question word (如何, 是否, 哪些, 多少 …) and does not end as a
    statement does. Agenda items and answer lists ("1、加强研发；") are none of these."""
    t = text.strip()
    if "？" in t or "?" in t or _REQUEST_RE.match(t):
        return True
    return bool(_QUESTION_WORD_RE.search(t)) and t[-1:] not in "。；;，,："


def _asks_on(lines: list[_Line], i: int, hi: int) -> bool:
    """Whether the question begun on line ``i`` ends, a line or two later, in a question mark
    ("…公司服务器生产规模能跟上" | "吗？有何应对措施？"): the line itself stops mid-sentence."""
    if lines[i].text.rstrip()[-1:] in "。；;！!":
        return False
    seen = 0
    for k in range(i + 1, hi):
        t = lines[k].text
        if not t:
            continue
        if _numbered(t) or QUESTION_RE.match(t) or _answer_label(t):
            return False
        if _ASKED_RE.search(t):
            return True
        seen += 1
        if seen == 2:
            return False
    return False


def _number(label: str) -> int | None:
    """A marker's number: 12 for "12", 12 for "十二"; None for anything else."""
    if label.isdigit():
        return int(label)
    digits = {c: k for k, c in enumerate("零一二三四五六七八九", start=0)}
    if label and all(c in digits or c == "十" for c in label):
        if "十" not in label:
            return digits[label] if len(label) == 1 else None
        tens, _, ones = label.partition("十")
        return (digits.get(tens, 1) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0)
    return None


def _marker_label(m: re.Match[str]) -> str:
    return next((g for g in m.groups() if g), "")


def _sections(lines: list[_Line]) -> list[tuple[int, int]]:
    """Index ranges split at heading lines (一、 （一） 第X部分): each section is labelled or not
    on its own, so a record can mix Q&A styles (传闻澄清 numbered, then a Q/A session)."""
    cuts = [i for i, ln in enumerate(lines) if HEADING_RE.match(ln.text)]
    bounds = sorted({0, *cuts, len(lines)})
    return list(itertools.pairwise(bounds))


def _question_starts(lines: list[_Line]) -> tuple[dict[int, _Start], set[int]]:
    """The lines that begin a question, and marker-only lines ("（1）" above "问：") to skip."""
    starts: dict[int, _Start] = {}
    skip: set[int] = set()
    for lo, hi in _sections(lines):
        explicit = [i for i in range(lo, hi) if QUESTION_RE.match(lines[i].text)]
        answers = [i for i in range(lo, hi) if _answer_label(lines[i].text)]
        for i in explicit:
            q = QUESTION_RE.match(lines[i].text)
            assert q is not None
            starts[i] = _Start("explicit", q.end(), _explicit_label(q))
            if i > lo and _MARKER_ONLY_RE.match(lines[i - 1].text):
                skip.add(i - 1)
        previous = lo - 1  # the last answer label (or explicit question) seen
        for k in answers:
            asked = any(previous < i < k for i in explicit)
            floor = max(previous + 1, lo, k - _MAX_QUESTION_LINES)
            previous = k
            if asked:
                continue
            j = next((j for j in range(k - 1, floor - 1, -1) if _numbered(lines[j].text)), None)
            if j is not None:
                m = _numbered(lines[j].text)
                assert m is not None
                at = m.end()
                q = QUESTION_RE.match(lines[j].text[at:])  # "1、问：…": the 问 label after the number
                starts[j] = _Start("implied", at + (q.end() if q else 0), _marker_label(m))
            elif k - 1 >= floor and _asks(lines[k - 1].text):
                loose = _LOOSE_NUMBER_RE.match(lines[k - 1].text)  # "5.24 年…": question 5
                at, label = (loose.end(), loose.group(1)) if loose else (0, "")
                starts[k - 1] = _Start("implied", at, label)
        if explicit or answers:
            continue
        last = None  # the number of the last question found in this section
        listed = False  # "具体问题及回复如下：": the numbered list that follows is the questions
        for i in range(lo, hi):
            m = _numbered(lines[i].text)
            if not m and _QUESTION_LIST_RE.search(lines[i].text):
                listed = True
            if not m:
                # "7.2024 年固定资产…？": question 7 when 6 came before (else a decimal)
                loose = _LOOSE_NUMBER_RE.match(lines[i].text)
                n = int(loose.group(1)) if loose else None
                if loose and last is not None and n == last + 1 and _asks(lines[i].text[loose.end() :]):
                    starts[i] = _Start("plain", loose.end(), loose.group(1))
                    last = n
                continue
            after = lines[i].text[m.end() :]
            number = _number(_marker_label(m))
            # "5、…有没有给小股东们一点信心。": a question word but a full stop; it asks when its
            # number continues the questions before it (an answer's own list starts again at 1)
            weak = (
                bool(_QUESTION_WORD_RE.search(after) or _WEAK_ASK_RE.search(after))
                and last is not None
                and number == last + 1
                and after.rstrip()[-1:] not in "；;，,："  # "2、有没有新产品视研发进展；" lists
            )
            # an announced list: its items in sequence are the questions, asked or put as topics
            announced = listed and m.group("n") is not None and number == (last or 0) + 1
            if _asks(after) or _asks_on(lines, i, hi) or weak or announced:
                starts[i] = _Start("plain", m.end(), _marker_label(m))
                last = number
    return starts, skip


def _segments(text: str, lines: list[_Line]) -> Iterator[Segment]:
    """Narrative sections and Q&A pairs, in order.

    A question runs until the next question, a heading that is not one, the closing statement
    every record ends with (接待过程中严格遵守…, ☆ 本次调研…), or the end of the body.
    """
    starts, skip = _question_starts(lines)

    def ends_answer(k: int) -> bool:
        ln = lines[k].text
        return k in starts or k in skip or _is_heading(ln) or bool(_CLOSING_RE.match(ln))

    title = ""
    narrative: Segment | None = None
    blank_before = False
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln.text or i in skip:
            blank_before = blank_before or not ln.text
            i += 1
            continue
        start = starts.get(i)
        if start:
            if narrative and narrative.paragraphs:
                yield narrative
            narrative = None
            j = i + 1
            while j < len(lines) and not ends_answer(j):
                j += 1
            yield _qa(text, lines[i:j], start, title)
            i, blank_before = j, False
            continue
        if _CLOSING_RE.match(ln.text):
            if narrative and narrative.paragraphs:
                yield narrative
            narrative = Segment(kind="narrative", title="")
            title = ""
        if _is_heading(ln.text):
            if narrative and narrative.paragraphs:
                yield narrative
            title = ln.text
            narrative = Segment(kind="narrative", title=title)
        else:
            if narrative is None or (blank_before and not narrative.title and narrative.paragraphs):
                if narrative and narrative.paragraphs:
                    yield narrative
                narrative = Segment(kind="narrative", title=title)
            narrative.paragraphs.append(Span(start=ln.start, end=ln.end))
        blank_before = False
        i += 1
    if narrative and narrative.paragraphs:
        yield narrative


def _qa(text: str, block: list[_Line], start: _Start, title: str) -> Segment:
    """One question (possibly several lines, up to the answer marker) and its answer paragraphs."""
    first = block[0]
    q_start = first.start + start.text_at
    q_start += len(text[q_start : first.end]) - len(text[q_start : first.end].lstrip())
    answer_at = next((k for k in range(1, len(block)) if _answer_label(block[k].text)), None)
    paragraphs: list[Span] = []
    inline = _INLINE_ANSWER_RE.search(text, q_start, first.end)
    if inline:
        q_end = inline.start()
        paragraphs.append(Span(start=inline.end(), end=first.end))
        rest = block[1:]
    elif answer_at is not None and (start.kind != "plain" or answer_at <= _MAX_QUESTION_LINES):
        q_end = block[answer_at - 1].end
        a_line = block[answer_at]
        a = _answer_label(a_line.text)
        assert a is not None
        paragraphs.append(Span(start=a_line.start + a.end(), end=a_line.end))
        rest = block[answer_at + 1 :]
    else:
        last = 0
        if start.kind != "explicit" and not _ASKED_RE.search(first.text):
            # "5、…转化成收入" | "的周期有多久？": the question ends at its question mark
            last = next(
                (
                    k
                    for k in range(1, min(len(block), _MAX_QUESTION_LINES))
                    if _ASKED_RE.search(block[k].text)
                ),
                0,
            )
        q_end = block[last].end
        rest = block[last + 1 :]
    paragraphs.extend(Span(start=ln.start, end=ln.end) for ln in rest if ln.text)
    paragraphs = [s for s in (_strip_span(text, p) for p in paragraphs) if s.end > s.start]
    q_span = _strip_span(text, Span(start=q_start, end=max(q_start, q_end)))
    question = _unwrap(text[q_span.start : q_span.end])
    return Segment(
        kind="qa",
        title=title,
        label=start.label,
        question=question,
        question_span=q_span,
        paragraphs=paragraphs,
    )


def _unwrap(s: str) -> str:
    """One line: a line break becomes a space between ASCII words, nothing next to CJK."""

    def glue(m: re.Match[str]) -> str:
        a, b = s[m.start() - 1 : m.start()], s[m.end() : m.end() + 1]
        return " " if a.isascii() and b.isascii() and a.isalnum() and b.isalnum() else ""

    return re.sub(r"\s*\n\s*", glue, s)


def _explicit_label(q: re.Match[str]) -> str:
    if q.group("q") is not None:
        return f"Q{q.group('qn')}" if q.group("qn") else ""
    marker = re.sub(r"\s+", "", q.group("w"))
    return marker if q.group("wn") else ""


def _strip_span(text: str, span: Span) -> Span:
    s = text[span.start : span.end]
    lead = len(s) - len(s.lstrip())
    return Span(start=span.start + lead, end=span.start + len(s.rstrip()))
