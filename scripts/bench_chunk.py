"""Chunking time against answer length (issue 25 item 1: one long filing stalled the writer).

Each case is one synthetic 投资者关系活动记录表 whose single answer is a long text: a run-on line
with no sentence or clause marks (25k/50k/100k characters), or ordinary sentences ended by ". "
(which the splitter does not take for a sentence end, the red team's case) and by "。"
(100k/200k/1.5M). It prints and records the seconds ``chunk_filing`` takes (parsing timed
apart), and how long the ingest's passage cap (``IngestLimits().max_passages_per_filing``)
takes to refuse the cases that exceed it.

    python scripts/bench_chunk.py                                   # this tree's chunker
    python scripts/bench_chunk.py --impl /tmp/chunk_old.py --out bench-results/chunk-before.json

``--impl`` imports another ``chunk.py`` by path (an older version, to compare against); a case
that runs past ``--timeout`` seconds is recorded as ``null`` with ``"timed_out": true``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import platform
import signal
import time
from pathlib import Path
from types import ModuleType

from irqa.rag.ingest.limits import IngestLimits
from irqa.rag.ingest.parse import parse_text
from irqa.rag.ingest.tokens import count_tokens

ROOT = Path(__file__).resolve().parent.parent
HEAD = (
    "证券代码：688088  证券简称：虹软科技\n虹软科技股份有限公司\n投资者关系活动记录表\n编号：2024-007\n"
    "投资者关系活动主要内容介绍\n问：公司的业务情况如何？\n答："
)
KINDS = {
    "line": "视频应用功能对于功耗的压力非常大",
    "sentences_period": "公司经营情况良好并且持续发展. ",
    "sentences_zh": "公司研发人员595人，占公司总人数的比例为63.64%，同比增长13.55%。",
}
CASES = [("line", n) for n in (25_000, 50_000, 100_000)] + [
    (kind, n) for kind in ("sentences_period", "sentences_zh") for n in (100_000, 200_000, 1_500_000)
]


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Timeout


def load_chunker(path: str | None) -> ModuleType:
    """This tree's chunker, or the ``chunk.py`` at ``path``."""
    if path is None:
        from irqa.rag.ingest import chunk

        return chunk
    spec = importlib.util.spec_from_file_location("bench_chunk_impl", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, timeout: float) -> tuple[float | None, object]:
    """Seconds ``fn()`` took and its result, or (None, None) past ``timeout`` (SIGALRM)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        out = fn()
    except _Timeout:
        return None, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - t0, out


def refuse(chunker: ModuleType, filing, cap: int) -> int:
    """Passages produced before the cap decides: the lazy chunker stops at cap + 1, an old one
    without ``iter_passages`` chunks the whole filing first (what the ingest did before)."""
    if hasattr(chunker, "iter_passages"):
        return len(list(itertools.islice(chunker.iter_passages(filing), cap + 1)))
    return len(chunker.chunk_filing(filing))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", help="path of a chunk.py to time instead of this tree's")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case before giving up")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "chunk.json")
    args = ap.parse_args()
    chunker = load_chunker(args.impl)
    cap = IngestLimits().max_passages_per_filing
    count_tokens("预热")  # load the encoding before the first timing
    rows = []
    for kind, n in CASES:
        body = (KINDS[kind] * (n // len(KINDS[kind]) + 1))[:n]
        t0 = time.perf_counter()
        filing = parse_text(HEAD + body + "\n")
        parse_s = time.perf_counter() - t0
        seconds, passages = timed(lambda f=filing: chunker.chunk_filing(f), args.timeout)
        row = {
            "kind": kind,
            "chars": n,
            "parse_s": round(parse_s, 3),
            "chunk_s": None if seconds is None else round(seconds, 3),
            "passages": None if passages is None else len(passages),
            "timed_out": seconds is None,
        }
        if passages is not None and len(passages) > cap:
            refuse_s, seen = timed(lambda f=filing: refuse(chunker, f, cap), args.timeout)
            row |= {"cap": cap, "refuse_s": None if refuse_s is None else round(refuse_s, 3), "seen": seen}
        rows.append(row)
        shown = "timed out" if seconds is None else f"{seconds:8.2f} s  {len(passages):5} passages"
        extra = f"  (cap {cap}: refused after {row['refuse_s']} s)" if "refuse_s" in row else ""
        print(f"{kind:17} {n:>9,} chars  parse {parse_s:5.2f} s  chunk {shown}{extra}", flush=True)
    result = {
        "impl": args.impl or "rag/ingest/chunk.py",
        "timeout_s": args.timeout,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
