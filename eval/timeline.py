"""Timeline quality: record recall and quote precision against records a person read.

``eval/data/timeline_dev.jsonl``: one question per line over ``../shared/corpus/real_filings`` —
``company``, ``topic``, optional ``date_from``/``date_to``, ``records`` (every record of the
company in the period) and ``discussed``: the records that say something about the topic, each
with the sentences that do (``quotes``), written by reading the records' text (keyword search
for the topic and its spellings, then reading each hit; product lists and boilerplate that only
name the topic were left out).

- **record recall**: records quoted that discuss the topic / records that discuss it;
- **record precision**: records quoted that discuss it / records quoted;
- **quote precision**: quotes that overlap one of the record's written-down sentences / quotes.

The "discussed" threshold is chosen with companies left out (:func:`choose`): the grid is scored
on the questions of half the companies, the best setting is reported on the other half.

Example::

    >>> cases = load_cases(Path("eval/data/timeline_dev.jsonl"))  # questions over the real records
    >>> rows = [run_case(engine, c) for c in cases]  # doctest: +SKIP
    >>> report(rows, TimelineParams())["all"]["record_recall"]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from irqa.rag.engine import Engine
from irqa.rag.timeline import Timeline, TimelineEntry, TimelineParams, timeline

#: the companies the threshold is chosen on; the others are the reported half
CHOOSE_ON = ("中际旭创", "英维克", "珂玛科技", "通富微电")
MIN_SCORES = [round(0.78 + 0.01 * i, 2) for i in range(16)]
TERM_WEIGHTS = [0.0, 0.05, 0.1, 0.2]


@dataclass
class Case:
    id: str
    company: str
    topic: str
    question: str
    date_from: dt.date | None
    date_to: dt.date | None
    records: list[str]
    discussed: dict[str, list[str]]  # filing id → sentences that discuss the topic


def load_cases(path: Path) -> list[Case]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        out.append(
            Case(
                id=d["id"],
                company=d["company"],
                topic=d["topic"],
                question=d.get("question", ""),
                date_from=dt.date.fromisoformat(d["date_from"]) if d.get("date_from") else None,
                date_to=dt.date.fromisoformat(d["date_to"]) if d.get("date_to") else None,
                records=[r["filing_id"] for r in d["records"]],
                discussed={r["filing_id"]: r["quotes"] for r in d["discussed"]},
            )
        )
    return out


def _norm(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", s).split())


def quote_matches(quote: str, sentences: list[str], min_common: int = 12) -> bool:
    """Whether ``quote`` overlaps a written-down sentence: one holds the other, or they share a run
    of ``min_common`` characters (a quote may stop or start mid-sentence)."""
    q = _norm(quote)
    for s in map(_norm, sentences):
        if not s or not q:
            continue
        if s in q or q in s:
            return True
        n = min(min_common, len(s), len(q))
        if any(q[i : i + n] in s for i in range(0, len(q) - n + 1)):
            return True
    return False


@dataclass
class Row:
    """One question's timeline, with every record's score kept so thresholds can be replayed."""

    case: Case
    timeline: Timeline
    seconds: float
    entries: list[TimelineEntry] = field(default_factory=list)


def run_case(engine: Engine, case: Case) -> Row:
    """The timeline with no threshold (every record quoted): decisions are replayed by :func:`score`."""
    import time

    t0 = time.perf_counter()
    t = timeline(
        engine, case.company, case.topic, case.date_from, case.date_to, TimelineParams(min_score=-1.0)
    )
    return Row(case, t, time.perf_counter() - t0, t.entries)


def score(rows: list[Row], params: TimelineParams) -> dict[str, float]:
    """Micro-averaged record recall/precision and quote precision with ``params``' threshold."""
    relevant = quoted = hit = good = 0
    for r in rows:
        gold = r.case.discussed
        relevant += len(gold)
        for e in r.entries:
            s = e.similarity + params.term_weight * e.coverage
            if s < params.min_score or e.citation is None:
                continue
            quoted += 1
            if e.filing_id in gold:
                hit += 1
                good += quote_matches(e.quote, gold[e.filing_id])
    recall = hit / relevant if relevant else 0.0
    precision = hit / quoted if quoted else 0.0
    return {
        "questions": len(rows),
        "records_discussing": relevant,
        "records_quoted": quoted,
        "record_recall": round(recall, 3),
        "record_precision": round(precision, 3),
        "record_f1": round(2 * recall * precision / (recall + precision), 3) if recall + precision else 0.0,
        "quote_precision": round(good / quoted, 3) if quoted else 0.0,
    }


def choose(rows: list[Row], on: tuple[str, ...] = CHOOSE_ON) -> tuple[TimelineParams, list[dict]]:
    """The (min_score, term_weight) with the best record F1 on the questions about ``on``'s companies."""
    fit = [r for r in rows if r.case.company in on]
    grid = []
    for w in TERM_WEIGHTS:
        for t in MIN_SCORES:
            p = TimelineParams(min_score=t, term_weight=w)
            grid.append({"min_score": t, "term_weight": w, **score(fit, p)})
    best = max(grid, key=lambda g: (g["record_f1"], g["quote_precision"], -g["term_weight"]))
    return TimelineParams(min_score=best["min_score"], term_weight=best["term_weight"]), grid


def report(rows: list[Row], params: TimelineParams, on: tuple[str, ...] = CHOOSE_ON) -> dict:
    """Scores with ``params`` on the chosen-on half, the held-out half and all questions."""
    fit = [r for r in rows if r.case.company in on]
    held = [r for r in rows if r.case.company not in on]
    return {
        "params": {"min_score": params.min_score, "term_weight": params.term_weight},
        "chosen_on": sorted(on),
        "held_out": sorted({r.case.company for r in held}),
        "fit": score(fit, params),
        "held_out_scores": score(held, params),
        "all": score(rows, params),
        "seconds_per_timeline": round(sum(r.seconds for r in rows) / max(len(rows), 1), 3),
    }
