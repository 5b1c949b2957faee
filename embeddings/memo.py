"""Remember recent query vectors: one ``ask`` embeds its question once, not once per stage.

The retriever and the answerer both embed the (glossary-expanded) question; with this wrapper the
second call is a dictionary lookup. Passages go straight to the wrapped model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from irqa.embeddings.base import Embedder, Progress


class MemoQueries(Embedder):
    """An embedder whose last ``size`` query vectors are kept (thread-safe, LRU)."""

    def __init__(self, inner: Embedder, size: int = 256) -> None:
        self.inner = inner
        self.name, self.dim, self.family = inner.name, inner.dim, inner.family
        self._size = size
        self._seen: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        todo = []
        with self._lock:
            for i, t in enumerate(texts):
                v = self._seen.get(t)
                if v is None:
                    todo.append(i)
                else:
                    self._seen.move_to_end(t)
                    out[i] = v
        if todo:
            fresh = self.inner.embed_queries([texts[i] for i in todo])
            with self._lock:
                for i, v in zip(todo, fresh, strict=True):
                    out[i] = v
                    self._seen[texts[i]] = v
                while len(self._seen) > self._size:
                    self._seen.popitem(last=False)
        return out

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self.inner.embed_passages(texts, progress)

    def __getattr__(self, attr: str):  # token_count etc. of the wrapped backend
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)
