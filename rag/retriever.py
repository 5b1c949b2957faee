"""Hybrid retrieval: FAISS dense search and BM25, fused by weighted normalized scores.

Dense vectors find paraphrases and cross-language matches ("video power draw" → 功耗);
BM25 finds rare exact terms (PSAI, 4K60帧, 595人). Both retrievers propose ``candidates``
passages each; every passage of the union gets its exact cosine and its BM25 score, each
min-max normalized over the union, and the fused score is ``dense_weight · cos' +
lexical_weight · bm25'``. Unlike reciprocal-rank fusion this keeps *how much* better the top
passage is, which measured better on FinTruthQA and the sample dev set (eval/EXPERIMENTS.md);
weighted RRF is still available (``method="rrf"``). Filters (company codes, date range)
restrict both retrievers exactly, before ranking.

Example::

    >>> from irqa.rag.store import Filters
    >>> r = Retriever(snapshot, embedder)
    >>> hits = r.search("虹软 视频 功耗", k=5, filters=Filters(codes=["688088"]))
    >>> {h.passage.code for h in hits}
    {'688088'}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.rag.models import Hit
from irqa.rag.store.base import Filters, Mode, StoreView

__all__ = ["Filters", "FusionParams", "Mode", "Retriever", "fuse"]


@dataclass
class FusionParams:
    """How the dense and BM25 rankings are combined (``method``: "rrf" or "score")."""

    rrf_k: int = 60  # RRF only
    dense_weight: float = 0.7
    lexical_weight: float = 0.3
    candidates: int = 100
    method: str = "score"  # "score": weighted min-max normalized scores; "rrf": weighted reciprocal rank


def _unit(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def fuse(
    p: FusionParams,
    dense_rows: np.ndarray,
    lex_rows: np.ndarray,
    cos_of_union: np.ndarray | None,
    bm25_of_union: np.ndarray | None,
    union: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fused (rows, scores) best first; ``union`` is ``np.union1d(dense_rows, lex_rows)``.

    Vectorized: no Python loop over candidates. Ties break by row, as before.
    """
    if not len(union):
        return union, np.zeros(0, np.float32)
    if p.method == "score":
        assert cos_of_union is not None and bm25_of_union is not None
        fused = p.dense_weight * _unit(cos_of_union.astype(np.float32)) + p.lexical_weight * _unit(
            bm25_of_union.astype(np.float32)
        )
    else:
        fused = np.zeros(len(union), np.float64)
        for w, ranking in ((p.dense_weight, dense_rows), (p.lexical_weight, lex_rows)):
            pos = np.searchsorted(union, ranking)
            fused[pos] += w / (p.rrf_k + np.arange(1, len(ranking) + 1))
    order = np.lexsort((union, -fused))
    return union[order], fused[order]


class Retriever:
    """Searches one immutable store view (any backend: it uses only the view's primitives)."""

    def __init__(self, snapshot: StoreView, embedder: Embedder, params: FusionParams | None = None) -> None:
        self.snap = snapshot
        self.embedder = embedder
        self.params = params or FusionParams()

    def search(
        self, query: str, k: int = 10, *, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first."""
        qv = self.embedder.embed_queries([query]) if mode in ("hybrid", "dense") and len(self.snap) else None
        return self.search_vector(query, qv, k, mode=mode, filters=filters)

    def search_vector(
        self,
        query: str,
        qv: np.ndarray | None,
        k: int = 10,
        *,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
    ) -> list[Hit]:
        """:meth:`search` with the query vector already computed (benchmarks, batch evaluation)."""
        view = self.snap
        if not len(view):
            return []
        allowed = view.allowed(filters or Filters())
        p = self.params
        n = max(p.candidates, k)
        empty = np.zeros(0, np.int64)
        dense_rows, dense_scores = view.dense(qv, n, allowed) if mode != "lexical" else (empty, empty)
        lex = view.lexical(view.analyzer.tokenize(query), n, allowed) if mode != "dense" else None
        lex_rows = lex.rows if lex is not None else empty
        if mode == "dense":
            rows, scores = dense_rows, dense_scores
        elif mode == "lexical":
            assert lex is not None
            rows, scores = lex.rows, lex.scores
        else:
            union = np.union1d(dense_rows, lex_rows)
            cos = view.cosines(qv, union) if p.method == "score" else None
            rows, scores = fuse(p, dense_rows, lex_rows, cos, lex.score_of(union) if lex else None, union)
        rows, scores = rows[:k], scores[:k]
        exact = view.cosines(qv, rows) if qv is not None and len(rows) else None  # cosine for every hit
        passages = view.passages_at(rows)
        lex_score = dict(zip(lex_rows.tolist(), lex.scores.tolist(), strict=True)) if lex else {}
        return [
            Hit(
                passage=passage,
                score=float(score),
                dense=float(exact[i]) if exact is not None else None,
                lexical=lex_score.get(int(row)),
                rank=i + 1,
            )
            for i, (row, score, passage) in enumerate(zip(rows, scores, passages, strict=True))
        ]
