"""Read one PDF's text in a child process: ``python -I pdf_child.py LIMITS_JSON < file.pdf``.

``extract`` runs this so that a PDF can be stopped mid-page: one page whose content stream
inflates to tens of MB kept pypdf busy for minutes inside a single ``extract_text`` call, and a
thread cannot be interrupted. The child has a hard address-space cap and is killed at the time
limit; it imports only the standard library and pypdf, and answers one JSON object on stdout:
``{"pages": [...]}`` or ``{"error": "unreadable" | "pages" | "chars" | "bomb", "n": ...}``.
The parent turns those into messages (``irqa.rag.ingest.extract``).
"""

from __future__ import annotations

import io
import json
import logging
import resource
import sys


def _answer(**kw) -> None:
    sys.stdout.write(json.dumps(kw, ensure_ascii=False))
    sys.stdout.flush()
    raise SystemExit(0)


def main() -> None:
    limits = json.loads(sys.argv[1])
    cap = int(limits["max_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    logging.disable(logging.CRITICAL)  # malformed input is reported, not logged
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    data = sys.stdin.buffer.read()
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            _answer(error="unreadable")
        try:  # the count the document claims: checked before walking the page tree
            declared = reader.trailer["/Root"]["/Pages"].get("/Count", 0)
            declared = declared if isinstance(declared, int) else 0
        except Exception:
            declared = 0
        if declared > limits["max_pages"]:
            _answer(error="pages", n=declared)
        n = len(reader.pages)  # the tree may hold more than it declares
        if n > limits["max_pages"]:
            _answer(error="pages", n=n)
        pages: list[str] = []
        chars = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            if chars > limits["max_chars"]:
                _answer(error="chars")
        _answer(pages=pages)
    except LimitReachedError:  # pypdf's own caps, e.g. a stream inflating past 75 MB
        _answer(error="bomb")
    except MemoryError:
        _answer(error="memory")
    except SystemExit:
        raise
    except Exception:  # pypdf raises many types on broken files; all mean "unreadable"
        _answer(error="unreadable")


if __name__ == "__main__":
    main()
