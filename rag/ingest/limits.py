"""How much work one file or one ingest may cause: plain values, passed in by the caller.

Every cap exists because an input without it took the process down (issue 10): a 3.4 MB DOCX
whose ``document.xml`` inflates to 1.1 GB, a 100,000-page PDF, a 19 MB text that becomes
51,537 passages (78 minutes of embedding under the write lock). The defaults are far above any
real 投资者关系活动记录表 (the largest sample is 27 Q&A pairs, 106 passages, 60 KB of text) and
``irqa.wiring`` sets them from ``IRQA_*`` settings.

    >>> IngestLimits().max_pdf_pages
    1000
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IngestLimits"]


@dataclass(frozen=True)
class IngestLimits:
    #: characters of extracted text per file (any format); a real record has under 100,000
    max_chars: int = 2_000_000
    #: PDF pages per file; the page count is checked before any page is read
    max_pdf_pages: int = 1000
    #: wall-clock seconds spent extracting one PDF (the child process reading it is killed)
    max_pdf_seconds: float = 60.0
    #: address space of that child process
    max_pdf_memory_bytes: int = 2 * 1024 * 1024 * 1024
    #: uncompressed bytes of a DOCX's XML parts, all together (media parts are never inflated)
    max_docx_xml_bytes: int = 64 * 1024 * 1024
    #: members in a DOCX zip
    max_docx_members: int = 5000
    #: uncompressed/compressed size of one DOCX member bigger than 1 MiB; Word XML is ~5-20
    max_zip_ratio: int = 200
    #: passages one filing may produce
    max_passages_per_filing: int = 5000
    #: new passages one ingest may produce; None: no cap (the CLI), the API sets its own per upload
    max_passages_per_ingest: int | None = None
    #: refuse text that is not a 投资者关系活动记录表 (``irqa ingest --allow-unstructured`` turns it off)
    require_structure: bool = True
