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

    >>> r = Retriever(snapshot, embedder)
    >>> hits = r.search("虹软 视频 功耗", k=5, codes=["688088"])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.rag.lexical import tokenize
from irqa.rag.models import Hit
from irqa.rag.store import Snapshot

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class Filters:
    codes: Sequence[str] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def active(self) -> bool:
        return bool(self.codes) or self.date_from is not None or self.date_to is not None


@dataclass
class FusionParams:
    """How the dense and BM25 rankings are combined (``method``: "rrf" or "score")."""

    rrf_k: int = 60  # RRF only
    dense_weight: float = 0.7
    lexical_weight: float = 0.3
    candidates: int = 100
    method: str = "score"  # "score": weighted min-max normalized scores; "rrf": weighted reciprocal rank


class Retriever:
    """Searches one immutable snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, params: FusionParams | None = None) -> None:
        self.snap = snapshot
        self.embedder = embedder
        self.params = params or FusionParams()
        self._codes = np.array([p.code for p in snapshot.passages], dtype=object)
        self._dates = np.array(
            [p.date.toordinal() if p.date else -1 for p in snapshot.passages], dtype=np.int64
        )

    def allowed_rows(self, f: Filters) -> np.ndarray | None:
        """Rows passing the filters, or None when no filter is active."""
        if not f.active():
            return None
        mask = np.ones(len(self.snap.passages), dtype=bool)
        if f.codes:
            mask &= np.isin(self._codes, list(f.codes))
        if f.date_from is not None:
            mask &= self._dates >= f.date_from.toordinal()
        if f.date_to is not None:
            mask &= (self._dates <= f.date_to.toordinal()) & (self._dates >= 0)
        return np.flatnonzero(mask)

    def dense(self, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        scores, rows = self.snap.vector_index.search(qv, n, allowed_rows=allowed)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def lexical_scores(self, query: str, allowed: np.ndarray | None) -> np.ndarray:
        """BM25 score of every row (0 outside ``allowed``)."""
        scores = self.snap.lexical.scores(tokenize(query))
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        return scores

    def lexical(
        self, query: str, n: int, allowed: np.ndarray | None, scores: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        if scores is None:
            scores = self.lexical_scores(query, allowed)
        if not len(scores):
            return []
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def _score_fusion(
        self,
        qv: np.ndarray,
        bm25: np.ndarray,
        dense: list[tuple[int, float]],
        lex: list[tuple[int, float]],
    ) -> list[tuple[int, float]]:
        """Weighted sum of min-max normalized cosine and BM25 over the union of both candidate lists."""
        rows = np.array(sorted({r for r, _ in dense} | {r for r, _ in lex}), dtype=np.int64)
        if not len(rows):
            return []
        p = self.params

        def unit(x: np.ndarray) -> np.ndarray:
            lo, hi = float(x.min()), float(x.max())
            return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

        cos = self.snap.vectors[rows] @ qv[0]
        fused = p.dense_weight * unit(cos) + p.lexical_weight * unit(bm25[rows].astype(np.float32))
        order = np.lexsort((rows, -fused))
        return [(int(rows[i]), float(fused[i])) for i in order]

    def search(
        self, query: str, k: int = 10, *, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> list[Hit]:
        """The top ``k`` passages for ``query``, best first."""
        if not self.snap.passages:
            return []
        allowed = self.allowed_rows(filters or Filters())
        p = self.params
        n = max(p.candidates, k)
        qv = self.embedder.embed_queries([query]) if mode in ("hybrid", "dense") else None
        dense = self.dense(qv, n, allowed) if qv is not None else []
        bm25 = self.lexical_scores(query, allowed) if mode in ("hybrid", "lexical") else None
        lex = self.lexical(query, n, allowed, bm25) if bm25 is not None else []
        dense_of = dict(dense)
        lex_of = dict(lex)
        if mode == "dense":
            ranked = dense
        elif mode == "lexical":
            ranked = lex
        elif p.method == "score":
            assert qv is not None and bm25 is not None
            ranked = self._score_fusion(qv, bm25, dense, lex)
        else:
            fused: dict[int, float] = {}
            for w, ranking in ((p.dense_weight, dense), (p.lexical_weight, lex)):
                for rank, (row, _) in enumerate(ranking, start=1):
                    fused[row] = fused.get(row, 0.0) + w / (p.rrf_k + rank)
            ranked = sorted(fused.items(), key=lambda rs: (-rs[1], rs[0]))
        top = ranked[:k]
        if qv is not None:  # exact cosine for every returned hit, even one only BM25 found
            rows = [row for row, _ in top]
            cos = self.snap.vectors[rows] @ qv[0] if rows else []
            dense_of = {row: float(c) for row, c in zip(rows, cos, strict=True)}
        return [
            Hit(
                passage=self.snap.passages[row],
                score=score,
                dense=dense_of.get(row),
                lexical=lex_of.get(row),
                rank=i,
            )
            for i, (row, score) in enumerate(top, start=1)
        ]
