"""Paths and small builders the tests share (imported, never a fixture): no test imports conftest."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from irqa.rag.engine import EngineConfig, sample_dir

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sample_dir()
ARCSOFT = SAMPLES / "688088_arcsoft_2024-007.txt"
INSTA360 = SAMPLES / "688775_insta360_2025-003.txt"
HIKVISION = SAMPLES / "002415_hikvision_2023-4-15.txt"
DEV_QUESTIONS = ROOT / "eval" / "data" / "sample_dev.jsonl"
#: the shared real data sits beside the repository (../shared); IRQA_SHARED overrides
SHARED = Path(os.environ.get("IRQA_SHARED", ROOT.parent / "shared"))
FINTRUTHQA = SHARED / "corpus" / "fintruthqa"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots a person can look at
#: one cache folder for the whole test session (models, tiktoken, jieba): never the user's cache
SESSION_CACHE = Path(os.environ.get("IRQA_TEST_CACHE", ROOT / "build" / "test-cache"))
#: Debian's chromium, started the way this closed network needs (no background connections)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def make_config(index: Path, cache: Path, **kw) -> EngineConfig:
    return EngineConfig(index=index, cache_dir=cache, **kw)


class HashEmbedder:
    """A fast, deterministic stand-in for unit tests of fusion, filtering and answer selection.

    Vectors are hashed character bigrams (L2-normalized), so texts that share wording are close:
    enough to exercise the ranking plumbing in milliseconds. Real-model tests stay the reference.
    """

    name = "test-hash:bigrams@1"
    family = "test-hash"
    dim = 384

    def _vectors(self, texts):
        import zlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            t = t.lower()
            for a, b in itertools.pairwise(t):
                out[i, zlib.crc32((a + b).encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_queries(self, texts):
        return self._vectors(list(texts))

    def embed_passages(self, texts, progress=None):
        vecs = self._vectors(list(texts))
        if progress:
            progress(len(texts))
        return vecs
