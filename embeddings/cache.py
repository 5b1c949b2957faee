"""A content-addressed vector cache: the same text under the same model is embedded once.

Embedding is the slow step of ingestion (~10 passages/s on 2 cores), so re-ingesting an
unchanged or slightly edited filing must not embed again. Vectors live in one SQLite file per
cache directory, keyed by (model name, sha256 of the text); SQLite makes concurrent writers safe.

Example::

    >>> cache = VectorCache(tmp / "vectors.sqlite")
    >>> vecs, fresh = embed_with_cache(embedder, ["文本一", "文本二"], cache)
    >>> vecs.shape, embed_with_cache(embedder, ["文本一", "文本二"], cache)[1]   # the second time: 0 embedded
    ((2, 384), 0)
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from irqa.embeddings.base import Embedder, Progress


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """SQLite-backed map from (model, text hash) to a float32 vector."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # one connection shared by the server's threads
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))"
        )
        self._db.commit()

    def get_many(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})", [model, *part]
                ).fetchall()
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)",
                [(model, k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()],
            )

    def count(self, model: str | None = None) -> int:
        if model is None:
            return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", [model]).fetchone()[0]

    def close(self) -> None:
        self._db.close()


def cache_models(embedder: Embedder) -> list[str]:
    """Cache keys for an embedder's vectors: its family first (backends of one family share
    vectors, cosine ≥ 0.999), then its own name (vectors cached before families existed)."""
    return list(dict.fromkeys(m for m in (embedder.family, embedder.name) if m))


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: VectorCache | None,
    progress: Progress | None = None,
    *,
    flush_every: int = 16,
) -> tuple[np.ndarray, int]:
    """Passage vectors for ``texts``; returns (vectors, how many were freshly embedded).

    Fresh vectors are written to the cache as they are made, so an interrupted ingest keeps
    what it already paid for.
    """
    out = np.zeros((len(texts), embedder.dim), np.float32)
    keys = [text_key(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    for model in cache_models(embedder) if cache else []:
        missing = [k for k in keys if k not in known]
        if missing:
            known.update(cache.get_many(model, missing))
    todo: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
        else:
            todo.setdefault(k, []).append(i)
    cached = len(texts) - sum(len(v) for v in todo.values())
    if progress and cached:
        progress(cached)
    order = list(todo)
    for start in range(0, len(order), flush_every):
        part = order[start : start + flush_every]
        vecs = embedder.embed_passages([texts[todo[k][0]] for k in part])
        for k, v in zip(part, vecs, strict=True):
            for i in todo[k]:
                out[i] = v
        if cache:
            cache.put_many(cache_models(embedder)[0], dict(zip(part, vecs, strict=True)))
        if progress:
            progress(sum(len(todo[k]) for k in part))
    return out, len(order)
