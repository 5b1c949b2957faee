"""The FAISS vector index: inner product over L2-normalized vectors (= cosine).

Row ``i`` of the index is vector ``i`` of the matrix it was built from; callers keep the
mapping from rows to passages. The index type follows the corpus size: exact flat search while
it is fast enough, HNSW beyond (see the benchmark in ``eval/bench.py`` for the trade-off).

Example::

    >>> vectors = embedder.embed_passages(["视频功耗", "研发人员", "海外收入"])   # (N, d) float32, normalized
    >>> index = VectorIndex.build(vectors)
    >>> scores, rows = index.search(embedder.embed_queries(["功耗"]), k=2)
    >>> int(rows[0][0])
    0
    >>> index.save(tmp / "dense.faiss"); VectorIndex.load(tmp / "dense.faiss").size
    3
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

#: above this many vectors "auto" builds an HNSW graph instead of a flat index
HNSW_THRESHOLD = 200_000


class VectorIndex:
    """A thin, typed wrapper over a FAISS index with optional row filters."""

    def __init__(self, index: faiss.Index, kind: str) -> None:
        self.index = index
        self.kind = kind

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @classmethod
    def build(
        cls, vectors: np.ndarray, kind: str = "auto", *, hnsw_m: int = 32, ef_search: int = 128
    ) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {vectors.shape}")
        n, d = vectors.shape
        if kind == "auto":
            kind = "hnsw" if n > HNSW_THRESHOLD else "flat"
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"unknown index kind {kind!r} (flat, hnsw or auto)")
        if n:
            index.add(vectors)
        return cls(index, kind)

    def search(
        self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, rows) per query; rows are -1 where fewer than k exist.

        ``allowed_rows`` restricts the search to those rows (exactly, via a FAISS ID selector).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size)) if self.size else 1
        if self.size == 0 or (allowed_rows is not None and len(allowed_rows) == 0):
            nq = queries.shape[0]
            return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64)
        if allowed_rows is None:
            return self.index.search(queries, k)
        sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_rows, dtype=np.int64))
        params = (
            faiss.SearchParametersHNSW(sel=sel, efSearch=self.index.hnsw.efSearch)
            if self.kind == "hnsw"
            else faiss.SearchParameters(sel=sel)
        )
        return self.index.search(queries, k, params=params)

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half of one."""
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        index = faiss.read_index(str(path))
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        return cls(index, kind)
