"""Raw text out of a filing file: ``.txt``, ``.pdf`` or ``.docx``, chosen by suffix.

Real filings put the header in a two-column Word table (label cell | value cell), so DOCX
tables are emitted one cell per line and one blank line per row, in document order with the
paragraphs around them; the header parser then finds every label at a line start, as in the
text exports. Library errors on bad input become a one-line ``FilingError``.

    >>> extract_text("证券代码：688088".encode("utf-8"), "a.txt")
    '证券代码：688088'
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

from irqa.rag.errors import FilingError
from irqa.rag.ingest.decode import decode_bytes

__all__ = ["SUFFIXES", "basename", "extract_text", "format_of"]

SUFFIXES = (".txt", ".pdf", ".docx")

_CODE_LABEL = re.compile(r"(?:证券|股票)代码")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Checkbox glyphs Word stores as <w:sym> in symbol fonts (Wingdings, Wingdings 2).
_SYMBOLS = {
    "F052": "☑",  # Wingdings 2 'R'
    "F053": "☒",  # Wingdings 2 'S'
    "F0A3": "□",  # Wingdings 2 '£'
    "F0FE": "☑",  # Wingdings
    "F0FD": "☒",
    "F0FC": "✓",
    "F0A8": "□",
    "F06F": "□",
    "F071": "□",
}


def extract_text(data: bytes, filename: str) -> str:
    """Return the raw text of ``data``; ``filename`` picks the format and names the file in errors."""
    name = basename(filename)
    suffix = format_of(name)
    if not data:
        raise FilingError(f"empty file: {name}")
    if suffix == ".txt":
        return decode_bytes(data, name)
    if suffix == ".pdf":
        return _read_pdf(data, name)
    return _read_docx(data, name)


def basename(filename: str) -> str:
    """The file name without any directory part, for either path separator."""
    return PurePosixPath(filename.replace("\\", "/")).name or "input"


def format_of(filename: str) -> str:
    """The lower-case suffix of a supported file name; ``FilingError`` for anything else."""
    suffix = PurePosixPath(basename(filename)).suffix.lower()
    if suffix not in SUFFIXES:
        shown = f"'{suffix}'" if suffix else "(no suffix)"
        raise FilingError(f"unsupported format {shown} (expected .txt, .pdf or .docx): {basename(filename)}")
    return suffix


def _read_pdf(data: bytes, name: str) -> str:
    from pypdf import PdfReader

    unreadable = FilingError(f"{name} is not a readable PDF (corrupt or encrypted)")
    if b"%PDF" not in data[:1024]:
        raise unreadable
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed input is reported, not logged
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise unreadable
        pages = [page.extract_text() or "" for page in reader.pages]
    except FilingError:
        raise
    except Exception as e:  # pypdf raises many types on broken files; all mean "unreadable"
        raise unreadable from e
    text = "\n".join(pages)
    if not text.strip():
        raise FilingError(f"{name} has no extractable text (a scanned PDF needs OCR first)")
    return text


def _read_docx(data: bytes, name: str) -> str:
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise FilingError(f"{name} is not a readable DOCX (corrupt or truncated)")
    try:
        document = docx.Document(io.BytesIO(data))
        body = "\n".join(_docx_blocks(document.element.body))
        return _with_page_header(document, body)
    except Exception as e:  # zipfile, lxml and python-docx all raise their own types
        raise FilingError(f"{name} is not a readable DOCX (corrupt or truncated)") from e


def _with_page_header(document, body: str) -> str:
    """Some records print 证券代码/简称 only in the page header: put those lines first."""
    if _CODE_LABEL.search(body):
        return body
    lines: list[str] = []
    for section in document.sections:
        if section.header.is_linked_to_previous:  # no header of its own (asking would add one)
            continue
        for line in _docx_blocks(section.header._element):
            if _CODE_LABEL.search(line) and line not in lines:
                lines.append(line)
    return "\n".join([*lines, body])


def _docx_blocks(container) -> Iterator[str]:
    """Paragraphs and tables of a body or cell, in document order."""
    for child in container.iterchildren():
        if child.tag == f"{_W}p":
            yield _paragraph_text(child)
        elif child.tag == f"{_W}tbl":
            yield from _table_lines(child)
        elif child.tag == f"{_W}sdt":  # content control wrapping blocks
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _docx_blocks(content)


def _table_lines(tbl) -> Iterator[str]:
    """One line block per cell, a blank line after each row; merged cells appear once."""
    for tr in tbl.iterchildren(f"{_W}tr"):
        emitted = False
        for tc in tr.iterchildren(f"{_W}tc"):  # a horizontally merged cell is one <w:tc>
            if _is_vmerge_continuation(tc):
                continue
            lines = [line for line in _docx_blocks(tc) if line.strip()]
            if lines:
                yield from lines
                emitted = True
        if emitted:
            yield ""


def _is_vmerge_continuation(tc) -> bool:
    tc_pr = tc.find(f"{_W}tcPr")
    if tc_pr is None:
        return False
    vmerge = tc_pr.find(f"{_W}vMerge")
    return vmerge is not None and vmerge.get(f"{_W}val", "continue") == "continue"


def _paragraph_text(p) -> str:
    """Paragraph text including tabs, breaks and checkbox symbols (``paragraph.text`` drops these)."""
    parts: list[str] = []
    for el in p.iter():
        if _inside_fallback(el, p):
            continue
        tag = el.tag
        if tag == f"{_W}t":
            parts.append(el.text or "")
        elif tag == f"{_W}tab" and el.getparent().tag == f"{_W}r":  # not a tab-stop definition
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}sym":
            parts.append(_SYMBOLS.get((el.get(f"{_W}char") or "").upper(), ""))
    return "".join(parts)


def _inside_fallback(el, stop) -> bool:
    """Text in ``mc:Fallback`` duplicates the preferred ``mc:Choice`` content."""
    parent = el.getparent()
    while parent is not None and parent is not stop:
        if parent.tag == _MC_FALLBACK:
            return True
        parent = parent.getparent()
    return False
