"""Raw text out of a filing file: ``.txt``, ``.pdf`` or ``.docx``, chosen by suffix.

Real filings put the header in a two-column Word table (label cell | value cell), so DOCX
tables are emitted one cell per line and one blank line per row, in document order with the
paragraphs around them; the header parser then finds every label at a line start, as in the
text exports. Library errors on bad input become a one-line ``FilingError``.

Files are hostile until read: a DOCX is a zip, so its members' declared sizes, their
compression ratios and the bytes actually inflated are all checked against ``IngestLimits``
before python-docx sees them, and media parts (images, embedded objects) are never inflated at
all. PDFs are read in a child process (``pdf_child``) with a memory cap that is killed at the
time limit, and capped in pages (before reading any) and characters; the company name and page
number a record prints on every page are removed from all pages after the first (``pages``).

    >>> extract_text("证券代码：688088".encode("utf-8"), "a.txt")
    '证券代码：688088'
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from irqa.rag.errors import FilingError
from irqa.rag.ingest.decode import decode_bytes
from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.pages import strip_running_lines

__all__ = ["SUFFIXES", "basename", "extract_text", "format_of"]

SUFFIXES = (".txt", ".pdf", ".docx")

_PDF_CHILD = Path(__file__).with_name("pdf_child.py")
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


def extract_text(data: bytes, filename: str, limits: IngestLimits | None = None) -> str:
    """Return the raw text of ``data``; ``filename`` picks the format and names the file in errors."""
    limits = limits or IngestLimits()
    name = basename(filename)
    suffix = format_of(name)
    if not data:
        raise FilingError(f"empty file: {name}")
    if suffix == ".txt":
        text = decode_bytes(data, name)
    elif suffix == ".pdf":
        text = _read_pdf(data, name, limits)
    else:
        text = _read_docx(data, name, limits)
    _check_chars(len(text), name, limits)
    return text


def _check_chars(n: int, name: str, limits: IngestLimits) -> None:
    if n > limits.max_chars:
        raise FilingError(
            f"{name} has more than {limits.max_chars:,} characters of text: too large for one "
            "investor-relations record (split it, or raise IRQA_MAX_FILING_CHARS)"
        )


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


def _read_pdf(data: bytes, name: str, limits: IngestLimits) -> str:
    """The PDF's text, read by ``pdf_child`` in a process that is killed at the time limit."""
    unreadable = FilingError(f"{name} is not a readable PDF (corrupt or encrypted)")
    if b"%PDF" not in data[:1024]:
        raise unreadable
    args = {
        "max_pages": limits.max_pdf_pages,
        "max_chars": limits.max_chars,
        "max_bytes": limits.max_pdf_memory_bytes,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(_PDF_CHILD), json.dumps(args)],
            input=data,
            capture_output=True,
            timeout=limits.max_pdf_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FilingError(
            f"{name}: reading the PDF took over {limits.max_pdf_seconds:g} s and was stopped "
            "(raise IRQA_MAX_PDF_SECONDS to allow it)"
        ) from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:  # killed (out of memory), crashed: no answer
        answer = {"error": "memory" if done.returncode < 0 else "unreadable"}
    error = answer.get("error")
    if error == "pages":
        _check_pages(int(answer["n"]), name, limits)
    if error == "chars":
        _check_chars(limits.max_chars + 1, name, limits)
    if error == "bomb":
        raise FilingError(
            f"{name} is not a plausible PDF (a compressed stream inflates past pypdf's limit): "
            "refused as a possible decompression bomb"
        )
    if error == "memory":
        raise FilingError(
            f"{name}: reading the PDF needed more than {limits.max_pdf_memory_bytes:,} bytes of memory "
            "and was stopped (a possible decompression bomb)"
        )
    if error or not isinstance(answer.get("pages"), list):
        raise unreadable
    text = "\n".join(strip_running_lines(answer["pages"]))
    if not text.strip():
        raise FilingError(f"{name} has no extractable text (a scanned PDF needs OCR first)")
    return text


def _check_pages(n: int, name: str, limits: IngestLimits) -> None:
    if n > limits.max_pdf_pages:
        raise FilingError(
            f"{name} has {n:,} pages, more than the limit of {limits.max_pdf_pages:,} for one "
            "investor-relations record (raise IRQA_MAX_PDF_PAGES to allow it)"
        )


def _read_docx(data: bytes, name: str, limits: IngestLimits) -> str:
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise FilingError(f"{name} is not a readable DOCX (corrupt or truncated)")
    safe = _defused_docx(data, name, limits)  # FilingError for bombs, before python-docx runs
    try:
        document = docx.Document(io.BytesIO(safe))
        body = "\n".join(_docx_blocks(document.element.body))
        return _with_page_header(document, body)
    except Exception as e:  # zipfile, lxml and python-docx all raise their own types
        raise FilingError(f"{name} is not a readable DOCX (corrupt or truncated)") from e


_XML_PART = re.compile(r"\.(?:xml|rels)$", re.IGNORECASE)
_RATIO_FLOOR = 1024 * 1024  # small members may compress as well as they like


def _defused_docx(data: bytes, name: str, limits: IngestLimits) -> bytes:
    """The DOCX re-packed with only its XML parts inflated, each within the limits.

    python-docx reads every member of the zip into memory, images included; here media and
    other binary parts become empty members (their relationships stay valid, their bytes are
    never inflated) and the XML parts are read in chunks, counting what actually comes out,
    so a member that lies about its size cannot get past the cap either.
    """

    def bomb(why: str) -> FilingError:
        return FilingError(
            f"{name} is not a plausible DOCX ({why}): refused as a possible decompression bomb"
        )

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zin:
            infos = zin.infolist()
            if len(infos) > limits.max_docx_members:
                raise bomb(f"{len(infos):,} zip members, limit {limits.max_docx_members:,}")
            xml = [i for i in infos if _XML_PART.search(i.filename) and not i.is_dir()]
            declared = sum(i.file_size for i in xml)
            if declared > limits.max_docx_xml_bytes:
                raise bomb(
                    f"its XML parts declare {declared:,} bytes uncompressed, "
                    f"limit {limits.max_docx_xml_bytes:,}"
                )
            for i in xml:
                if i.file_size > _RATIO_FLOOR and i.file_size > limits.max_zip_ratio * max(
                    i.compress_size, 1
                ):
                    raise bomb(
                        f"{i.filename} inflates {i.file_size // max(i.compress_size, 1):,}× "
                        f"(limit {limits.max_zip_ratio}×)"
                    )
            out = io.BytesIO()
            budget = limits.max_docx_xml_bytes
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
                for i in infos:
                    if i.is_dir():
                        continue
                    if not _XML_PART.search(i.filename):
                        zout.writestr(i.filename, b"")  # media: keep the name, drop the bytes
                        continue
                    part = _read_capped(zin, i, budget)
                    if part is None:
                        raise bomb(f"its XML parts inflate past {limits.max_docx_xml_bytes:,} bytes")
                    budget -= len(part)
                    zout.writestr(i.filename, part)
            return out.getvalue()
    except FilingError:
        raise
    except Exception as e:  # bad CRC, truncated member, unsupported compression …
        raise FilingError(f"{name} is not a readable DOCX (corrupt or truncated)") from e


def _read_capped(zin: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | None:
    """The member's bytes, or None as soon as more than ``cap`` bytes came out."""
    buf = bytearray()
    with zin.open(info) as fh:
        while chunk := fh.read(1024 * 1024):
            buf += chunk
            if len(buf) > cap:
                return None
    return bytes(buf)


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
