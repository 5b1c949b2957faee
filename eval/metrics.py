"""Ranking metrics: small own functions for rule-judged runs, ``ir_measures`` for qrels runs.

The question set has no document ids (relevance comes from :mod:`eval.relevance`), so its metrics
take a ranked list of booleans. BEIR-style runs have qrels, and there the maintained
``ir_measures`` (trec_eval semantics) is the reference; ``tests/test_eval_metrics.py`` checks
that both agree on the same run.

Example::

    >>> rels = [False, True, False]
    >>> hit_at_k(rels, 1), hit_at_k(rels, 5), mrr_at_k(rels, 10)
    (0.0, 1.0, 0.5)
    >>> round(ndcg_at_k(rels, 10, n_relevant=1), 4)
    0.6309
    >>> beir_metrics({"q1": {"d2": 1}}, {"q1": ["d1", "d2"]})["mrr@10"]
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import ir_measures
import numpy as np
from ir_measures import RR, R, Success, nDCG

BEIR_KEYS = (
    "hit@1",
    "hit@5",
    "hit@10",
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@100",
    "mrr@10",
    "ndcg@10",
)
_MEASURES = {
    "hit@1": Success @ 1,
    "hit@5": Success @ 5,
    "hit@10": Success @ 10,
    "recall@1": R @ 1,
    "recall@5": R @ 5,
    "recall@10": R @ 10,
    "recall@100": R @ 100,
    "mrr@10": RR @ 10,
    "ndcg@10": nDCG @ 10,
}


def first_hit_rank(rels: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant passage, or None."""
    return next((i for i, r in enumerate(rels, 1) if r), None)


def hit_at_k(rels: Sequence[bool], k: int) -> float:
    """1.0 if any of the top k is relevant."""
    return 1.0 if any(rels[:k]) else 0.0


def recall_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int) -> float:
    """Fraction of the relevant ids found in the top k (0.0 when nothing is relevant)."""
    relevant = set(relevant_ids)
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked_ids[:k])) / len(relevant)


def mrr_at_k(rels: Sequence[bool], k: int = 10) -> float:
    """Reciprocal rank of the first relevant passage within the top k, else 0."""
    rank = first_hit_rank(rels[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at_k(rels: Sequence[bool], k: int = 10, n_relevant: int | None = None) -> float:
    """Binary-gain nDCG@k (log2 discount, as trec_eval).

    ``n_relevant`` is how many relevant items exist in total (sets the ideal ranking); when
    unknown it defaults to the relevant items retrieved, i.e. the best reordering of this list.
    """
    top = rels[:k]
    dcg = sum(1.0 / math.log2(i + 1) for i, r in enumerate(top, 1) if r)
    ideal_n = min(k, n_relevant if n_relevant is not None else sum(map(bool, rels)))
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, ideal_n + 1))
    return dcg / idcg if idcg else 0.0


def latency_percentiles(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95 in milliseconds (linear interpolation); None when there are no timings."""
    if not latencies_ms:
        return {"latency_ms_p50": None, "latency_ms_p95": None}
    p50, p95 = np.percentile(np.asarray(latencies_ms, dtype=float), [50, 95])
    return {"latency_ms_p50": float(p50), "latency_ms_p95": float(p95)}


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, None for no values (so absent metrics stay distinguishable from 0)."""
    vals = list(values)
    return sum(vals) / len(vals) if vals else None


def run_to_scores(
    run: Mapping[str, Sequence[str] | Sequence[tuple[str, float]]],
) -> dict[str, dict[str, float]]:
    """Turn ranked lists into the ``{qid: {docid: score}}`` form ``ir_measures`` wants.

    Scores are replaced by ``-rank`` so the list order is authoritative: trec_eval breaks score
    ties by doc id, which would silently reorder tied candidates. Duplicate docs keep their
    first (best) rank.
    """
    out: dict[str, dict[str, float]] = {}
    for qid, ranked in run.items():
        scores: dict[str, float] = {}
        for rank, item in enumerate(ranked, 1):
            doc = item if isinstance(item, str) else item[0]
            scores.setdefault(doc, float(-rank))
        out[qid] = scores
    return out


def per_query_beir(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str] | Sequence[tuple[str, float]]],
    keys: Sequence[str] = BEIR_KEYS,
) -> dict[str, dict[str, float]]:
    """Per-query metrics by ``ir_measures`` for every judged query (missing from run: all 0)."""
    measures = [_MEASURES[k] for k in keys]
    names = {m: k for k, m in zip(keys, measures, strict=True)}
    judged = {q: dict(d) for q, d in qrels.items() if any(v > 0 for v in d.values())}
    scores = {q: s for q, s in run_to_scores(run).items() if q in judged and s}
    out = {q: dict.fromkeys(keys, 0.0) for q in judged}
    for m in ir_measures.iter_calc(measures, judged, scores):
        out[m.query_id][names[m.measure]] = float(m.value)
    return out


def beir_metrics(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str] | Sequence[tuple[str, float]]],
    keys: Sequence[str] = BEIR_KEYS,
) -> dict[str, float]:
    """Mean of :func:`per_query_beir` over all judged queries (trec_eval ``-c`` semantics)."""
    per_q = per_query_beir(qrels, run, keys)
    return {k: (sum(v[k] for v in per_q.values()) / len(per_q) if per_q else 0.0) for k in keys}


def recall_curve(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str] | Sequence[tuple[str, float]]],
    max_k: int = 100,
) -> list[float]:
    """Mean recall@k for k = 1..max_k (index 0 is recall@1), for the report's curve."""
    totals = [0.0] * max_k
    judged = {q: {d for d, v in docs.items() if v > 0} for q, docs in qrels.items()}
    judged = {q: d for q, d in judged.items() if d}
    for qid, rel in judged.items():
        ranked = [x if isinstance(x, str) else x[0] for x in run.get(qid, [])]
        found = 0
        seen: set[str] = set()
        for i in range(max_k):
            if i < len(ranked) and ranked[i] in rel and ranked[i] not in seen:
                found += 1
            if i < len(ranked):
                seen.add(ranked[i])
            totals[i] += found / len(rel)
    return [t / len(judged) for t in totals] if judged else [0.0] * max_k
