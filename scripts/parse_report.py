"""Parse every record under a folder with irqa's own parse path and flag what looks wrong.

    python scripts/parse_report.py ../shared/corpus/real_filings            # one line per record
    python scripts/parse_report.py ../shared/corpus/real_filings --json out.json

Each line: id, code, short name, record_no, date, Q&A pairs, narrative segments, and flags.
The flags are symptoms a reader would notice, checked on the parsed segments, not on the
parser's own rules, so they catch its failures:

- ``sha-id``: no readable id (neither 编号 nor code and date found)
- ``no-qa``: no Q&A pair although the body asks questions (lines with ？)
- ``missed-q:N``: N narrative paragraphs that start with a list marker and ask (？)
- ``merged-q:N``: N answer paragraphs that start with a list marker or 问/Q label and ask
- ``empty-answer:N``, ``long-question:N`` (over 300 characters: an answer swallowed)
- ``gaps``: the numeric question labels skip or repeat (1, 2, 4 …)
- ``running-line``: a short line repeats three or more times (a page header left in)
- ``letter-spaced``: a run of letter-spaced CJK characters left in the text
- ``not-a-record``: ``check_structure`` refuses it; ``error``: the parse raised
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections import Counter
from pathlib import Path

from irqa.rag.errors import FilingError
from irqa.rag.ingest.parse import check_structure
from irqa.rag.ingest.pipeline import parse_file
from irqa.rag.models import Filing

_MARKER = re.compile(
    r"^(?:\d{1,2}\s*[、.．]|[（(]\d{1,2}[）)]|[一二三四五六七八九十]{1,3}[、.．]|[Qq]\d+|问[：:]|问题\s*\d)"
)
_SPACED = re.compile(r"(?:[\u4e00-\u9fff] ){5,}[\u4e00-\u9fff]")


def flags(f: Filing) -> list[str]:
    """What looks wrong in one parsed record (an empty list when nothing does)."""
    out: list[str] = []
    text = f.text
    qa = f.qa_pairs
    if f.id.startswith("sha-"):
        out.append("sha-id")
    body_start = f.header_span.end if f.header_span else 0
    asks = sum(1 for line in text[body_start:].split("\n") if "？" in line or "?" in line)
    if not qa and asks >= 2:
        out.append("no-qa")
    missed = merged = 0
    for s in f.segments:
        paras = [text[p.start : p.end] for p in s.paragraphs]
        for k, p in enumerate(paras):
            if not (_MARKER.match(p) and ("？" in p[:200] or "?" in p[:200])):
                continue
            if s.kind == "narrative":
                missed += 1
            elif k > 0 or s.kind == "qa":
                merged += 1
    if missed:
        out.append(f"missed-q:{missed}")
    if merged:
        out.append(f"merged-q:{merged}")
    empty = sum(1 for s in qa if not s.paragraphs)
    if empty:
        out.append(f"empty-answer:{empty}")
    long_q = sum(1 for s in qa if len(s.question) > 300)
    if long_q:
        out.append(f"long-question:{long_q}")
    numbers = [int(s.label.lstrip("Qq")) for s in qa if s.label.lstrip("Qq").isdigit()]
    if numbers and any(b != a + 1 for a, b in itertools.pairwise(numbers) if b != 1):
        out.append("gaps")
    squashed = [re.sub(r"\s+", " ", re.sub(r"\d+", "#", ln.strip())) for ln in text.split("\n")]
    lines = Counter(k for k in squashed if 4 <= len(k) <= 40)
    if any(n >= 3 and "公司" in k and k.endswith("#") for k, n in lines.items()):
        out.append("running-line")
    segment_text = "\n".join(text[p.start : p.end] for s in f.segments for p in s.paragraphs)
    if _SPACED.search(segment_text + "\n".join(s.question for s in qa)):
        out.append("letter-spaced")
    try:
        check_structure(f)
    except FilingError:
        out.append("not-a-record")
    return out


def report(folder: Path) -> list[dict]:
    rows = []
    for path in (
        sorted(folder.rglob("*.pdf")) + sorted(folder.rglob("*.docx")) + sorted(folder.rglob("*.txt"))
    ):
        if path.name.lower() in {"readme.txt"}:
            continue
        rel = str(path.relative_to(folder))
        try:
            f = parse_file(path)
        except FilingError as e:
            rows.append({"file": rel, "error": str(e), "flags": ["error"]})
            continue
        rows.append(
            {
                "file": rel,
                "id": f.id,
                "code": f.header.code,
                "short_name": f.header.short_name,
                "record_no": f.header.record_no,
                "date": f.date.isoformat() if f.date else "",
                "qa": len(f.qa_pairs),
                "narrative": sum(1 for s in f.segments if s.kind == "narrative"),
                "flags": flags(f),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = report(args.folder)
    for r in rows:
        if "error" in r:
            print(f"{r['file']}: ERROR {r['error']}")
            continue
        print(
            f"{r['id']:<20} {r['code']:<6} {r['short_name']:<5} {r['record_no'] or '-':<9} {r['date']:<10} "
            f"qa={r['qa']:<3} nar={r['narrative']:<2} {' '.join(r['flags'])}"
        )
    clean = sum(1 for r in rows if not r["flags"])
    print(f"{len(rows)} records, {clean} without flags, {sum(1 for r in rows if 'error' in r)} errors")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
