"""An in-memory view (``Snapshot``): evaluation corpora and benchmarks search with the very same
code as the local store (fp16 FAISS, BM25 term matrix, fusion), without writing a folder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from irqa.rag.analysis import Analyzer
from irqa.rag.lexical import TermMatrix
from irqa.rag.models import Filing, Passage
from irqa.rag.store.base import Manifest
from irqa.rag.store.segment import MemorySegment
from irqa.rag.store.view import SegmentView


class Snapshot(SegmentView):
    """``Snapshot(manifest, filings, passages, vectors, tokens)``: one in-memory segment."""

    def __init__(
        self,
        manifest: Manifest,
        filings: dict[str, Filing],
        passages: Sequence[Passage],
        vectors: np.ndarray,
        tokens: Sequence[Sequence[str]] | TermMatrix,
        generation: str = "",
        kind: str = "auto",
        analyzer: Analyzer | None = None,
    ) -> None:
        """``analyzer``: the one that made ``tokens`` (default: jieba's dictionary, no names)."""
        seg = MemorySegment(passages, vectors, tokens, filings, kind=kind)
        manifest.passages = len(passages)
        manifest.index_kind = seg.kind
        super().__init__(manifest, [seg], generation, located=False, analyzer=analyzer)
        self._vectors = np.asarray(vectors, np.float32).reshape(len(passages), -1)
        self.tokens = tokens

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors

    @classmethod
    def empty(cls, embedder: str, dim: int, family: str = "") -> Snapshot:
        return cls(
            Manifest(embedder=embedder, dim=dim, family=family), {}, [], np.zeros((0, dim), np.float32), []
        )
