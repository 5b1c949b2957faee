"""The pieces of a passage that may be quoted as an answer.

Body passages split into sentences (the chunker's sentence ends). Headings ("（三）AIGC相关产品进展",
"2）面向舱内…解决方案：") and courtesy lines ("感谢您的关注", "谢谢") are never quotable: they
answer nothing. Header passages (the 记录表 table) split into *fields* instead — "时间\\n2024年08月27日…",
"公司接待人员姓名\\n…徐坚先生…", one institution of the participant list — and a field is quotable
only when the question asks about it (:func:`header_fields_asked`, "这次调研由哪些人接待？",
"When did the meeting take place?") or names something it holds (申万宏源证券, Point72, 财务总监).
The title lines (证券代码/证券简称, the company's full name, 投资者关系活动记录表, 编号) never are.

Example::

    >>> [u.text for u in units(passage) if u.field == "time"]
    ['时间\\n2024年08月27日、2024年08月28日']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from irqa.rag.ingest.chunk import sentence_spans
from irqa.rag.models import Passage

MIN_CHARS = 6
_WS = re.compile(r"\s+")
_HEADING = re.compile(
    r"^(?:[（(][一二三四五六七八九十\d]+[）)]|第[一二三四五六七八九十]+部分|[一二三四五六七八九十]+、|\d+[）)、.]|[QA]\d*[:：])"
)
_SENTENCE_MARK = re.compile(r"[。！？；!?;]")
_COURTESY = re.compile(r"感谢您的关注|感谢您的提问|感谢关注|谢谢您的提问|谢谢|感谢|您好|你好|欢迎")

#: header field labels, matched on a line with all whitespace removed
_FIELDS: list[tuple[str, re.Pattern[str]]] = [
    ("title", re.compile(r"证券代码|证券简称|活动记录表$|^编号|^(?:\S+)(?:股份有限公司|有限公司)$")),
    ("type", re.compile(r"活动类别$|^投资者关系$")),
    ("participants", re.compile(r"^参与单位|^及人员姓名$|与会人员清单|^公司名称$|^姓名$|^个人[:：]")),
    ("staff", re.compile(r"接待")),
    ("time", re.compile(r"^时间")),
    ("place", re.compile(r"^地点")),
    ("date", re.compile(r"^日期")),
    ("attachments", re.compile(r"^附件清单|^[（(]如有[）)]$")),
    ("intro", re.compile(r"活动主要内容|^介绍$")),
]
#: the second line of a label that wraps ("上市公司接待\n人员姓名"): the field goes on
_LABEL_TAIL = re.compile(r"^(?:及)?人员姓名$|^活动类别$|^及人员姓名$")
_NEVER = {"title", "intro", "attachments", "type"}
#: question cues for each header field; date/place cues also need an event cue (not "when will X launch")
_EVENT = re.compile(
    r"调研|会议|说明会|业绩会|交流|活动|记录表|这次|本次|此次|meeting|call|session|visit|research|record|event|"
    r"held|take place|took place",
    re.I,
)
_CUES: dict[str, re.Pattern[str]] = {
    "time": re.compile(r"哪天|哪一天|什么时候|何时|时间|日期|几号|\bwhen\b|\bdate\b", re.I),
    "date": re.compile(r"哪天|哪一天|日期|\bdate\b|\bwhen\b", re.I),
    "place": re.compile(r"哪里|在哪|地点|\bwhere\b|venue|location", re.I),
    "staff": re.compile(r"接待|出席|represent|\bhost|received|management|高管|管理层", re.I),
    "participants": re.compile(r"参加|参与|参会|与会|机构|attend|participa|institution|joined", re.I),
}


@dataclass
class Unit:
    """A quotable piece of a passage: ``start``/``end`` index the passage text."""

    start: int
    end: int
    text: str
    order: int  # position inside the passage
    field: str = ""  # header field, "" for body sentences


def header_fields_asked(question: str) -> set[str]:
    """The header fields a question asks about (a date/place only when it is about the event)."""
    asked = {f for f, rx in _CUES.items() if rx.search(question)}
    if not _EVENT.search(question):
        asked -= {"time", "date", "place"}
    return asked


def _is_heading(text: str, passage: Passage) -> bool:
    t = _WS.sub("", text)
    if passage.title and t == _WS.sub("", passage.title):
        return True
    if _SENTENCE_MARK.search(t):
        return False
    return len(t) <= 40 and (bool(_HEADING.match(t)) or t.endswith(("：", ":")))


def _is_courtesy(text: str) -> bool:
    rest = _COURTESY.sub("", re.sub(r"[\W_]+", "", text))
    return len(rest) < MIN_CHARS


def _body_units(p: Passage) -> list[Unit]:
    out = []
    for n, sp in enumerate(sentence_spans(p.text, 0, len(p.text))):
        text = p.text[sp.start : sp.end]
        if len(text) >= MIN_CHARS and not _is_heading(text, p) and not _is_courtesy(text):
            out.append(Unit(sp.start, sp.end, text, n))
    return out


def _field_of(line: str) -> str | None:
    t = _WS.sub("", line)
    for name, rx in _FIELDS:
        if rx.search(t):
            return name
    return None


def _header_units(p: Passage) -> list[Unit]:
    """Fields of the header table: a label line with its value lines; list entries one by one."""
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in p.text.split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        while a < b and p.text[a].isspace():
            a += 1
        while b > a and p.text[b - 1].isspace():
            b -= 1
        lines.append((a, b))  # blank lines kept as (a, a): they separate list entries
    field = "participants"  # a passage that starts mid-table continues the participant list
    blocks: list[tuple[str, int, int]] = []  # (field, start, end)
    for a, b in lines:
        if a == b:
            if blocks and blocks[-1][0] == "participants":
                blocks.append(("participants", -1, -1))  # blank line: the next entry starts
            continue
        if _LABEL_TAIL.match(_WS.sub("", p.text[a:b])) and blocks and blocks[-1][1] >= 0:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], b)
            continue
        label = _field_of(p.text[a:b])
        if label is not None:
            field = label
            blocks.append((field, a, b))
            continue
        if blocks and blocks[-1][0] == field and blocks[-1][1] >= 0 and field != "participants":
            blocks[-1] = (field, blocks[-1][1], b)
        elif field == "participants":
            # "机构 名字、名字；机构 名字…": one unit per "；" entry; "机构\n名字" pairs join
            prev = blocks[-1] if blocks else None
            text = p.text[a:b]
            if "；" in text or ";" in text:
                for m in re.finditer(r"[^；;]+", text):
                    s, e = a + m.start(), a + m.end()
                    if p.text[s:e].strip():
                        blocks.append((field, s, e))
                blocks.append(("participants", -1, -1))
            elif prev and prev[0] == "participants" and prev[1] >= 0 and "\n\n" not in p.text[prev[2] : a]:
                blocks[-1] = (field, prev[1], b)
            else:
                blocks.append((field, a, b))
        else:
            blocks.append((field, a, b))
    out = []
    for n, (field, a, b) in enumerate(blocks):
        if a < 0 or field in _NEVER:
            continue
        text = p.text[a:b]
        if field == "participants" and _field_of(text) == "participants" and len(_WS.sub("", text)) < 12:
            continue  # a bare label ("参与单位名称", "公司名称")
        if len(_WS.sub("", text)) >= 2:
            out.append(Unit(a, b, text, n, field))
    return out


def units(p: Passage) -> list[Unit]:
    """Quotable units of a passage, in order."""
    return _header_units(p) if p.section == "header" else _body_units(p)


def quote_texts(p: Passage) -> list[str]:
    """The texts the answerer may embed for ``p`` (its units): what ingest embeds ahead of time."""
    return [u.text for u in units(p)]
