"""Paths and small builders the tests share (imported, never a fixture): no test imports conftest."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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
#: 200 judged FinTruthQA queries and 500 answers shipped with the tests (tests/data/fintruthqa_slice)
FINTRUTHQA_SLICE = ROOT / "tests" / "data" / "fintruthqa_slice"
REAL_FILINGS = SHARED / "corpus" / "real_filings"
needs_shared = pytest.mark.skipif(
    not (SHARED / "corpus").is_dir(), reason=f"the shared corpora are not at {SHARED} (set IRQA_SHARED)"
)


def fintruthqa() -> Path:
    """The full FinTruthQA folder when ../shared has it, else the slice in the repository."""
    return FINTRUTHQA if (FINTRUTHQA / "queries.jsonl").is_file() else FINTRUTHQA_SLICE


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


def fresh_cache(path: Path) -> Path:
    """An empty irqa cache folder (cold vectors, tiktoken, jieba) whose converted models are the
    session's: ``models`` links to ``SESSION_CACHE/models``, so no test converts the model twice
    and none writes one into the user's cache."""
    models = SESSION_CACHE / "models"
    models.mkdir(parents=True, exist_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "models").exists():
        (path / "models").symlink_to(models, target_is_directory=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(home: Path, *args: str, **env: str) -> tuple[subprocess.Popen, str]:
    """``irqa serve`` as a user starts it, on a free port, with its index and a cold cache in
    ``home``; stdout and stderr go to ``home/serve.out`` and ``home/serve.err``. Returns at once."""
    port = free_port()
    environment = {
        **os.environ,
        "IRQA_INDEX": str(home / "index"),
        "IRQA_CACHE_DIR": str(fresh_cache(home / "cache")),
        "COLUMNS": "80",
        **env,
    }
    environment.pop("IRQA_API_KEY", None)
    with (home / "serve.out").open("wb") as out, (home / "serve.err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "irqa", "serve", "--port", str(port), *args],
            cwd=home,
            env=environment,
            stdout=out,
            stderr=err,
        )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Bm25sReference:
    """bm25s' BM25 over pre-tokenized passages: the reference irqa's term matrices are tested against."""

    def __init__(self, corpus_tokens, k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        self.size = len(corpus_tokens)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        if self.size:
            self._bm25.index([list(t) for t in corpus_tokens], show_progress=False)

    def scores(self, query_tokens) -> np.ndarray:
        """BM25 score of every passage (0 where no query term occurs)."""
        known = [t for t in query_tokens if t in self._bm25.vocab_dict] if self.size else []
        if not known:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
