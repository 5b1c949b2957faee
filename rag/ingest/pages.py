"""Running page headers and footers out of a PDF's pages, before the pages become one text.

Published records print the company name and a page number at the top or bottom of every page
("紫光股份有限公司        3"). Extracted as text, that line lands in the middle of a sentence,
a participant list or a question on every page break. Only the page structure tells it apart
from content: the same line (digits aside) among the first or last lines of most pages. The
first page keeps its copy (it may carry the 证券代码 line the header parser reads); later
pages lose theirs.

    >>> head = "甲股份有限公司  {}\\n"
    >>> pages = [head.format(1) + "证券代码：000001\\n正文第一页，未完", head.format(2) + "待续的句子。", head.format(3) + "结束。"]
    >>> strip_running_lines(pages)
    ['甲股份有限公司  1\\n证券代码：000001\\n正文第一页，未完', '待续的句子。', '结束。']
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["strip_running_lines"]

_EDGE = 2  # lines at the top and at the bottom of a page where running lines sit
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
# content markers that legitimately start lines on many pages: never a running line
_MARKER = re.compile(r"^(?:[QqAa]\d*|问|答|回复|问题|[（(]?\d{1,3}[）)、.．]?)\s*[：:]?$")


def _key(line: str) -> str:
    return _DIGITS.sub("#", _SPACE.sub(" ", line.strip()))


def _edges(lines: list[str]) -> list[int]:
    content = [i for i, s in enumerate(lines) if s.strip()]
    return sorted(set(content[:_EDGE] + content[-_EDGE:]))


def _trim(page: str) -> str:
    """The page without blank lines at its top and bottom: a page break is not a paragraph
    break (a sentence runs on to the next page), so it must not look like one."""
    lines = page.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def strip_running_lines(pages: list[str]) -> list[str]:
    """The pages without blank edges and without the lines repeated at the top or bottom of
    at least half of them.

    A line counts when its text (digits masked, so page numbers match) is among the first or
    last two non-blank lines of at least two pages and of at least half the pages, and has at
    least four characters besides digits and spaces (a bare "答：" or "（1）" is content).
    """
    pages = [_trim(p) for p in pages]
    if len(pages) < 2:
        return list(pages)
    split = [p.split("\n") for p in pages]
    seen: Counter[str] = Counter()
    for lines in split:
        seen.update({_key(lines[i]) for i in _edges(lines)})
    running = {
        k
        for k, n in seen.items()
        if n >= 2
        and n * 2 >= len(pages)
        and len(k.replace("#", "").replace(" ", "")) >= 4
        and not _MARKER.match(k.replace("#", "1"))
        and k.rstrip()[-1:] not in "。！？；!?;"  # a sentence is content, not a running head
    }
    if not running:
        return list(pages)
    out = [pages[0]]
    for lines in split[1:]:
        drop = {i for i in _edges(lines) if _key(lines[i]) in running}
        out.append("\n".join(s for i, s in enumerate(lines) if i not in drop))
    return out
