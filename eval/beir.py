"""Read a BEIR-layout dataset and score a run on it.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/<split>.tsv`` (``query-id  corpus-id  score`` with a header line), as in
``../shared/corpus/fintruthqa``. Any BEIR/MTEB retrieval dataset reads the same way.

Example::

    >>> ds = load_beir("../shared/corpus/fintruthqa")          # doctest: +SKIP
    >>> len(ds.corpus), len(ds.queries), len(ds.qrels)           # doctest: +SKIP
    (5898, 1000, 1000)
    >>> system, rows = evaluate_run("bm25", ds, run)             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from irqa.eval.jsonl import read_objects
from irqa.eval.metrics import beir_metrics, latency_percentiles, per_query_beir, recall_curve
from irqa.eval.results import PassageRow, QuestionRow, SystemResult, snippet


class BeirFormatError(ValueError):
    """A missing file or malformed line; the message names the file and line."""


@dataclass(frozen=True)
class BeirDataset:
    """Corpus ``{doc_id: (title, text)}``, queries ``{qid: text}``, qrels ``{qid: {doc_id: grade}}``."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = ""


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise BeirFormatError(f"{path}: missing (expected BEIR layout: corpus.jsonl, queries.jsonl, qrels/)")
    out = []
    for no, obj in read_objects(path, BeirFormatError):
        for key in fields:
            if key == "_id" and not isinstance(obj.get(key), str | int):
                raise BeirFormatError(f"{path}:{no}: missing or non-string '_id'")
            if key != "_id" and not isinstance(obj.get(key, ""), str):
                raise BeirFormatError(f"{path}:{no}: '{key}' must be a string")
        obj["_id"] = str(obj["_id"])
        obj["_line"] = no
        out.append(obj)
    return out


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise BeirFormatError(f"{path}: missing qrels file")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if no == 1 and parts[:2] == ["query-id", "corpus-id"]:
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                raise BeirFormatError(f"{path}:{no}: expected 3 tab-separated fields, got {len(parts)}")
            qid, did, grade = parts
            try:
                qrels.setdefault(qid, {})[did] = int(grade)
            except ValueError:
                raise BeirFormatError(f"{path}:{no}: score {grade!r} is not an integer") from None
    return qrels


def load_beir(directory: str | Path, split: str = "test") -> BeirDataset:
    """Load a BEIR dataset; qrels must only name known queries and documents."""
    d = Path(directory)
    if not d.is_dir():
        raise BeirFormatError(f"{d}: not a directory")
    corpus: dict[str, tuple[str, str]] = {}
    for obj in _read_jsonl(d / "corpus.jsonl", ("_id", "title", "text")):
        if obj["_id"] in corpus:
            raise BeirFormatError(f"{d / 'corpus.jsonl'}:{obj['_line']}: duplicate _id {obj['_id']!r}")
        corpus[obj["_id"]] = (obj.get("title", ""), obj.get("text", ""))
    queries = {o["_id"]: o.get("text", "") for o in _read_jsonl(d / "queries.jsonl", ("_id", "text"))}
    qrels_path = d / "qrels" / f"{split}.tsv"
    qrels = _read_qrels(qrels_path)
    for qid, docs in qrels.items():
        if qid not in queries:
            raise BeirFormatError(f"{qrels_path}: query {qid!r} not in queries.jsonl")
        missing = [doc for doc in docs if doc not in corpus]
        if missing:
            raise BeirFormatError(f"{qrels_path}: doc {missing[0]!r} (query {qid!r}) not in corpus.jsonl")
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels, name=d.name)


def evaluate_run(
    system: str,
    ds: BeirDataset,
    run: Mapping[str, Sequence[str] | Sequence[tuple[str, float]]],
    latencies_ms: Mapping[str, float] | None = None,
    curve_k: int = 100,
    shown: int = 10,
) -> tuple[SystemResult, list[QuestionRow]]:
    """Metrics (via ``ir_measures``) and per-query rows for a run ``{qid: ranked docs}``."""
    per_q = per_query_beir(ds.qrels, run)
    metrics: dict[str, float | None] = dict(beir_metrics(ds.qrels, run))
    lat = [latencies_ms[q] for q in per_q if latencies_ms and q in latencies_ms]
    metrics |= latency_percentiles(lat)
    rows = []
    for qid in per_q:
        rel = {d for d, g in ds.qrels[qid].items() if g > 0}
        ranked = [x if isinstance(x, str) else x[0] for x in run.get(qid, [])]
        hit = next((i for i, doc in enumerate(ranked, 1) if doc in rel), None)
        rows.append(
            QuestionRow(
                id=qid,
                question=ds.queries.get(qid, ""),
                system=system,
                passages=[
                    PassageRow(
                        id=doc,
                        text=snippet(" ".join(filter(None, ds.corpus.get(doc, ("", ""))))),
                        relevant=doc in rel,
                    )
                    for doc in ranked[:shown]
                ],
                hit_rank=hit,
                latency_ms=latencies_ms.get(qid) if latencies_ms else None,
            )
        )
    result = SystemResult(
        name=system,
        metrics=metrics,
        n_questions=len(per_q),
        recall_curve=recall_curve(ds.qrels, run, curve_k),
        latencies_ms=lat,
    )
    return result, rows
