"""Hybrid retrieval: FAISS dense search and BM25, fused by weighted reciprocal rank.

Dense vectors find paraphrases and cross-language matches ("video power draw" → 功耗);
BM25 finds rare exact terms (PSAI, 4K60帧, 595人). Reciprocal-rank fusion combines the two
rankings without calibrating their score scales against each other. Filters (company codes,
date range) restrict both retrievers exactly, before ranking.

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

from embeddings.base import Embedder
from rag.lexical import tokenize
from rag.models import Hit
from rag.store import Snapshot

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
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    candidates: int = 100


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

    def lexical(self, query: str, n: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        scores = self.snap.lexical.scores(tokenize(query))
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        if not len(scores):
            return []
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

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
        lex = self.lexical(query, n, allowed) if mode in ("hybrid", "lexical") else []
        dense_of = dict(dense)
        lex_of = dict(lex)
        if mode == "dense":
            ranked = dense
        elif mode == "lexical":
            ranked = lex
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
