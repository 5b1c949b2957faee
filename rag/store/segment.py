"""One immutable segment of the local store: the passages of one write, with everything needed
to search them.

Folder layout (every file written once, then only read)::

    meta.json        rows, dimension, index kind, company codes table
    dense.faiss      the one copy of the vectors: FAISS scalar-quantized fp16 (flat, memory-mapped),
                     or IVF over the same fp16 codes for big segments (``ANN_THRESHOLD``)
    lexical/         term frequencies as a CSC matrix + vocabulary (``irqa.rag.lexical.TermMatrix``)
    codes.npy        per row: index into meta's codes table (company filter)
    dates.npy        per row: date as a proleptic ordinal, -1 when unknown (date filter)
    docs.sqlite      passages (zlib JSON; text omitted when it is a slice of its filing's text) and
                     filings (summary columns + zlib JSON), read row by row on demand

Integrity. ``meta.json`` is written last and lists every other file with its size and SHA-256,
and carries a ``seal`` (the SHA-256 of the rest of meta.json), so flipped bytes in the vectors or
the BM25 arrays are an error (:class:`IndexCorrupt`) instead of silently different rankings.
Opening a segment (:meth:`Segment.check`) compares every file's size and hashes the files up to
``OPEN_HASH_BYTES`` in full: measured 0.7 ms for the sample index's segment (0.65 MB, 165
passages) and 4-11 ms for the 101 real records' (5.3 MB, 2,271 passages; two runs on the shared
cores), against 11-20 and 19-28 ms for the whole ``load()``. A file bigger than that (a segment of ~40,000 passages and more) is hashed in
full only by ``irqa index check`` and by a merge, which reads it whole anyway. Segments written before
checksums (no ``files`` in meta.json) still open; a compaction rewrites them with checksums.

Truncation. A memory-mapped file that shrinks under the process (a disk tool, a careless copy)
turns the next read of a lost page into SIGBUS, which kills the server outright; a file that
shrank before it was mapped does the same on first use. So a part up to ``READ_BELOW`` bytes is
read into memory and checked from the very bytes read (size and hash): nothing done to the file
afterwards reaches the process. A bigger part is memory-mapped after its size is checked, and
every access to it (:meth:`Segment._guard`) compares the file's size again first, so a
truncated file is :class:`IndexCorrupt` (503 ``index_corrupt`` over HTTP) instead of a crash;
only a truncation in the microseconds between that check and the read can still fault.
Unreadable parts (a damaged ``docs.sqlite``, a ``.npy`` with a bad header, FAISS refusing the
file) are ``IndexCorrupt`` too, never a traceback.

fp16 keeps cosines within ~1e-4 of float32 and recall@10 at 1.0 of exact search (measured in
``eval/bench.py``), at half the bytes; SQ8 measured 0.99 and was not needed for the size target.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np
from irqa.rag.errors import StoreError
from irqa.rag.lexical import TermMatrix
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.npy import load_npy, open_npy

#: segments with at least this many rows get an inverted-file (IVF) index over the same fp16 codes
#: (see eval/bench.py for the measurement: recall@10 vs exact, latency, build time; HNSW built
#: 10-50x slower here and recalled less on near-duplicate passages)
ANN_THRESHOLD = 50_000
NPROBE = 96
#: filtered searches over at most this many rows are exact scans of the decoded vectors
SCAN_BELOW = 8192
#: the checksum of a segment's files (recorded in meta.json, so it can change): SHA-256 ran at
#: 1.3 GB/s on this project's machine (SHA-NI), BLAKE2b at 0.5 GB/s, CRC32 1.5 GB/s without being
#: a hash one can trust for "unchanged"
CHECKSUM = "sha256"
#: at open, files up to this size are hashed in full (~25 ms at 1.3 GB/s); bigger ones get their
#: size checked, and their full hash from ``irqa index check`` and merges
OPEN_HASH_BYTES = 32 << 20
#: parts up to this size are read into memory, checked from the bytes read; bigger ones are
#: memory-mapped behind a size check at every access (see "Truncation" above)
READ_BELOW = OPEN_HASH_BYTES
#: the parts a segment cannot be searched without (checked also in segments without checksums)
REQUIRED = ("meta.json", "dense.faiss", "docs.sqlite", "lexical/indptr.npy")


class IndexCorrupt(StoreError):
    """A segment file differs from what was written (flipped bytes, truncated, missing).

    Never opened: it would rank silently wrong. ``problems`` lists each bad file with why.
    """

    code = "index_corrupt"

    def __init__(self, folder: Path, problems: Sequence[str]) -> None:
        self.folder = folder
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"index segment {folder} is corrupt: {problems[0]}{more}; it is not opened because it "
            f"would rank silently wrong. List every damaged file with 'irqa index check --index "
            f"{folder.parent}', then rebuild the index by re-ingesting the filings: "
            f"'irqa ingest --rebuild --index {folder.parent} PATH...' (cached vectors are reused)"
        )


def file_digest(path: Path) -> str:
    """The ``CHECKSUM`` of a file's bytes, read in blocks (never the whole file in memory)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, CHECKSUM).hexdigest()


def _seal(meta: dict) -> str:
    """The hash of meta.json's content without its seal (key order does not matter)."""
    body = {k: v for k, v in meta.items() if k != "seal"}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fingerprints(folder: Path) -> dict[str, list]:
    """Every file under ``folder`` but meta.json: relative path → [size, digest]."""
    out: dict[str, list] = {}
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder).as_posix()
        if f.is_file() and rel != "meta.json":
            out[rel] = [f.stat().st_size, file_digest(f)]
    return out


def build_vector_index(vectors: np.ndarray, kind: str = "auto", nprobe: int = NPROBE) -> faiss.Index:
    """fp16 scalar-quantized storage; flat below ``ANN_THRESHOLD`` rows, IVF at or above it."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    if kind == "auto":
        kind = "ivf" if n >= ANN_THRESHOLD else "flat"
    if kind == "ivf":
        nlist = max(16, int(4 * np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        sample = vectors[np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)]
        index.train(sample)
        index.add(vectors)
        index.nprobe = nprobe
        index.make_direct_map()  # reconstruct(row) for the fusion's cosines
        return index
    else:
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:1] if n else np.zeros((1, d), np.float32))  # fp16 needs no statistics
    if n:
        index.add(vectors)
    return index


def index_kind(index: faiss.Index) -> str:
    return "ivf" if isinstance(index, faiss.IndexIVF) else "flat"


def _pack(obj: dict) -> bytes:
    return zlib.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6)


def _unpack(blob: bytes) -> dict:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def write_segment(
    folder: Path,
    passages: Sequence[Passage],
    vectors: np.ndarray,
    tokens: Sequence[Sequence[str]] | TermMatrix,
    filings: Sequence[Filing],
    kind: str = "auto",
) -> dict[str, list[int]]:
    """Write a segment; passages of one filing must be contiguous. Returns filing id → [first, end).

    Every failure to write is an ``OSError`` naming the file (FAISS and SQLite report theirs
    otherwise), so the store can say "disk full" and clean up; meta.json, with the checksums of
    everything else, is written last.
    """
    folder.mkdir(parents=True)
    n = len(passages)
    index = build_vector_index(vectors.reshape(n, -1) if n else vectors, kind)
    # serialized here and written by Python, not faiss.write_index: its failed fwrite is a
    # RuntimeError without errno, this one an OSError (ENOSPC, EFBIG) with the file name
    with _named(folder / "dense.faiss"), (folder / "dense.faiss").open("wb") as fh:
        fh.write(memoryview(faiss.serialize_index(index)))
    terms = tokens if isinstance(tokens, TermMatrix) else TermMatrix.build(tokens)
    with _named(folder / "lexical"):
        terms.save(folder / "lexical")
    codes = sorted({p.code for p in passages})
    code_id = {c: i for i, c in enumerate(codes)}
    with _named(folder / "codes.npy"):
        np.save(folder / "codes.npy", np.fromiter((code_id[p.code] for p in passages), np.int32, n))
    with _named(folder / "dates.npy"):
        np.save(
            folder / "dates.npy",
            np.fromiter((p.date.toordinal() if p.date else -1 for p in passages), np.int32, n),
        )
    spans: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        span = spans.setdefault(p.filing_id, [i, i])
        if span[1] != i:
            raise ValueError(f"passages of {p.filing_id} are not contiguous")
        span[1] = i + 1
    try:
        _write_docs(folder / "docs.sqlite", passages, filings, spans)
    except sqlite3.Error as e:
        full = getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        raise OSError(errno.ENOSPC if full else errno.EIO, f"SQLite: {e}", str(folder / "docs.sqlite")) from e
    meta = {"rows": n, "dim": int(index.d), "kind": index_kind(index), "codes": codes}
    meta |= {"checksum": CHECKSUM, "files": _fingerprints(folder)}
    meta["seal"] = _seal(meta)
    with _named(folder / "meta.json"):
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return spans


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """A failed write names its file: Python's and numpy's write errors carry no file name."""
    try:
        yield
    except OSError as e:
        if e.filename is not None:
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e


def _write_docs(
    path: Path, passages: Sequence[Passage], filings: Sequence[Filing], spans: dict[str, list[int]]
) -> None:
    """docs.sqlite: the passages and the filings, one zlib JSON row each."""
    texts = {f.id: f.text for f in filings}
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("PRAGMA page_size=4096")
            db.execute("CREATE TABLE passages (row INTEGER PRIMARY KEY, data BLOB)")
            db.execute(
                "CREATE TABLE filings (id TEXT PRIMARY KEY, first INTEGER, end_ INTEGER, summary TEXT, data BLOB)"
            )

            def rows():
                for i, p in enumerate(passages):
                    d = p.model_dump(mode="json")
                    text = texts.get(p.filing_id)
                    if text is not None and text[p.start : p.end] == p.text:
                        del d["text"]  # a slice of the filing's text: stored once, with the filing
                    yield i, _pack(d)

            db.executemany("INSERT INTO passages VALUES (?, ?)", rows())
            db.executemany(
                "INSERT INTO filings VALUES (?, ?, ?, ?, ?)",
                (
                    (
                        f.id,
                        *spans.get(f.id, [0, 0]),
                        FilingSummary.of(f, len(range(*spans.get(f.id, [0, 0])))).model_dump_json(),
                        _pack(f.model_dump(mode="json")),
                    )
                    for f in filings
                ),
            )
        db.execute("VACUUM")
    finally:
        db.close()


class Segment:
    """Read side of a segment folder; every part is opened on first use.

    Reading meta.json checks its seal; :meth:`check` compares the other files with the checksums
    it lists (the store calls it before a segment's first search).
    """

    #: relative path → [size, digest]; None for a segment written before checksums
    files: dict[str, list] | None = None

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name
        path = folder / "meta.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            self.rows: int = int(meta["rows"])
            self.dim: int = int(meta["dim"])
            self.kind: str = str(meta["kind"])
            self.code_table: list[str] = list(meta["codes"])
            self.files = meta.get("files")
        except FileNotFoundError:
            raise IndexCorrupt(folder, [f"{path} is missing"]) from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise IndexCorrupt(folder, [f"{path} is unreadable ({type(e).__name__}: {e})"]) from None
        if self.files is not None and (meta.get("checksum") != CHECKSUM or meta.get("seal") != _seal(meta)):
            raise IndexCorrupt(folder, [f"{path} differs from what was written (its seal does not match)"])
        self._lock = threading.Lock()
        self._index: faiss.Index | None = None
        self._terms: TermMatrix | None = None
        self._codes: np.ndarray | None = None
        self._dates: np.ndarray | None = None
        self._db: sqlite3.Connection | None = None
        self._texts: dict[str, str] = {}
        #: memory-mapped parts → the size they had when mapped (checked before every access)
        self._mapped: dict[str, int] = {}

    @property
    def sealed(self) -> bool:
        """Whether the segment lists checksums of its files (segments written before do not)."""
        return self.files is not None

    def check(self, full: bool = False, hash_limit: int = OPEN_HASH_BYTES) -> list[str]:
        """What is wrong with the segment's files, one line each (empty: intact as written).

        Sizes are always compared; a file is hashed when ``full`` or when it is at most
        ``hash_limit`` bytes. A segment without checksums can only be checked for missing parts.
        """
        if self.files is None:
            return [f"{self.folder / p} is missing" for p in REQUIRED if not (self.folder / p).is_file()]
        problems = [
            f"{self.folder / p} is missing" for p in REQUIRED[1:] if p not in self.files
        ]  # a meta.json that lists no vectors is no segment
        for rel, (size, digest) in self.files.items():
            path = self.folder / rel
            try:
                got = path.stat().st_size
                if got != size:
                    problems.append(f"{path} has {got} bytes, {size} were written")
                elif (full or size <= hash_limit) and file_digest(path) != digest:
                    problems.append(f"{path} differs from what was written ({CHECKSUM} mismatch)")
            except FileNotFoundError:
                problems.append(f"{path} is missing")
            except OSError as e:
                problems.append(f"{path} is unreadable ({e.strerror or e})")
        return problems

    # parts, opened lazily ---------------------------------------------------------------------
    def _corrupt(self, rel: str, why: str) -> IndexCorrupt:
        return IndexCorrupt(self.folder, [f"{self.folder / rel} {why}"])

    def _read(self, rel: str) -> bytes | None:
        """The bytes of part ``rel`` when it is at most ``READ_BELOW``, checked against meta.json
        from the very bytes read; None for a bigger part, whose size is checked and remembered
        for :meth:`_guard` (the caller maps it)."""
        path = self.folder / rel
        expected = self.files.get(rel) if self.files is not None else None
        try:
            size = path.stat().st_size
            if expected is not None and size != expected[0]:
                raise self._corrupt(rel, f"has {size} bytes, {expected[0]} were written")
            if size > READ_BELOW:
                self._mapped[rel] = size
                return None
            data = path.read_bytes()
        except FileNotFoundError:
            raise self._corrupt(rel, "is missing") from None
        except OSError as e:
            raise self._corrupt(rel, f"is unreadable ({e.strerror or e})") from None
        if expected is not None and (
            len(data) != expected[0] or hashlib.new(CHECKSUM, data).hexdigest() != expected[1]
        ):
            raise self._corrupt(rel, f"differs from what was written ({CHECKSUM} mismatch)")
        return data

    def _guard(self, *rels: str) -> None:
        """Before touching memory-mapped parts: their files still have the size they were mapped
        with (a mapped file that shrank would fault with SIGBUS on the next read)."""
        for rel in rels:
            size = self._mapped.get(rel)
            if size is None:
                continue
            try:
                now = (self.folder / rel).stat().st_size
            except OSError:
                now = -1
            if now != size:
                got = "is missing" if now < 0 else f"has {now} bytes"
                raise self._corrupt(rel, f"{got}, {size} were mapped (truncated or replaced while open)")

    def _npy(self, rel: str) -> np.ndarray:
        data = self._read(rel)
        try:
            return load_npy(data) if data is not None else open_npy(self.folder / rel)
        except (ValueError, OSError, EOFError) as e:  # a bad header, or shorter than it says
            raise self._corrupt(rel, f"is not a readable array ({e})") from None

    @property
    def index(self) -> faiss.Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    data = self._read("dense.faiss")
                    try:
                        if data is not None:
                            self._index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
                        else:
                            # memory-map flat codes where this FAISS can (IO_FLAG_MMAP_IFC); else read them
                            flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if self.kind == "flat" else 0
                            self._index = faiss.read_index(str(self.folder / "dense.faiss"), flag)
                    except RuntimeError as e:
                        first = str(e).strip().splitlines()[-1] if str(e).strip() else "unreadable"
                        raise self._corrupt(
                            "dense.faiss", f"is not a readable FAISS index ({first})"
                        ) from None
        self._guard("dense.faiss")
        return self._index

    @property
    def terms(self) -> TermMatrix:
        if self._terms is None:
            arrays = [self._npy(f"lexical/{name}") for name in TermMatrix.FILES]
            self._terms = TermMatrix(None, *arrays, vocab_path=self.folder / "lexical" / "vocab.json")
        self._guard(*(f"lexical/{name}" for name in TermMatrix.FILES))
        return self._terms

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            self._codes = self._npy("codes.npy")
        self._guard("codes.npy")
        return self._codes

    @property
    def dates(self) -> np.ndarray:
        if self._dates is None:
            self._dates = self._npy("dates.npy")
        self._guard("dates.npy")
        return self._dates

    def _sql(self, query: str, args: Sequence = ()) -> list[tuple]:
        """A query of docs.sqlite; a damaged file is ``IndexCorrupt``. SQLite reads it with
        read() (``mmap_size=0``), so a truncated file is an error, never SIGBUS."""
        with self._lock:
            try:
                if self._db is None:
                    uri = f"file:{self.folder / 'docs.sqlite'}?mode=ro&immutable=1"
                    db = sqlite3.connect(uri, uri=True, check_same_thread=False)
                    db.execute("PRAGMA mmap_size=0")
                    self._db = db
                return self._db.execute(query, args).fetchall()
            except sqlite3.DatabaseError as e:
                raise self._corrupt("docs.sqlite", f"is unreadable (SQLite: {e})") from None

    def _record(self, blob: bytes) -> dict:
        """One stored row of docs.sqlite (zlib JSON); undecodable bytes are ``IndexCorrupt``."""
        try:
            return _unpack(blob)
        except (zlib.error, ValueError, TypeError) as e:
            raise self._corrupt("docs.sqlite", f"holds an unreadable row ({type(e).__name__}: {e})") from None

    # documents --------------------------------------------------------------------------------
    def filing(self, filing_id: str) -> Filing | None:
        found = self._sql("SELECT data FROM filings WHERE id = ?", [filing_id])
        return Filing.model_validate(self._record(found[0][0])) if found else None

    def filing_text(self, filing_id: str) -> str:
        text = self._texts.get(filing_id)
        if text is None:
            f = self.filing(filing_id)
            text = f.text if f else ""
            if len(self._texts) > 64:
                self._texts.clear()
            self._texts[filing_id] = text
        return text

    def summaries(self) -> list[tuple[FilingSummary, int, int]]:
        return [
            (FilingSummary.model_validate_json(s), a, b)
            for s, a, b in self._sql("SELECT summary, first, end_ FROM filings")
        ]

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        rows = [int(r) for r in rows]
        found: dict[int, bytes] = {}
        for i in range(0, len(rows), 500):
            part = rows[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(self._sql(f"SELECT row, data FROM passages WHERE row IN ({marks})", part))
        out = []
        for r in rows:
            if r not in found:
                raise self._corrupt("docs.sqlite", f"has no passage row {r}")
            d = self._record(found[r])
            if "text" not in d:
                d["text"] = self.filing_text(d["filing_id"])[d["start"] : d["end"]]
            out.append(Passage.model_validate(d))
        return out

    # search -----------------------------------------------------------------------------------
    def decode(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_batch(rows)

    def dense(self, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` (local rows, scores) among ``allowed`` local rows (None: all rows)."""
        q = np.ascontiguousarray(qv.reshape(1, -1), dtype=np.float32)
        # one query: OpenMP threads only add wake-up latency (40 ms per search measured on the
        # shared, busy 2 cores vs 0.04 ms single-threaded); the setting is per calling thread
        faiss.omp_set_num_threads(1)
        if allowed is not None and len(allowed) <= SCAN_BELOW:
            if not len(allowed):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            scores = self.decode(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:n]
            return allowed[top].astype(np.int64), scores[top]
        n = min(n, self.rows)
        if allowed is None:
            scores, rows = self.index.search(q, n)
        else:
            mask = np.zeros(self.rows, dtype=bool)
            mask[allowed] = True
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(bitmap))
            params = (
                faiss.SearchParametersIVF(sel=sel, nprobe=self.index.nprobe)
                if self.kind == "ivf"
                else faiss.SearchParameters(sel=sel)
            )
            scores, rows = self.index.search(q, n, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]


class MemorySegment(Segment):
    """A segment held in memory (evaluation corpora, benchmarks): same search code, no folder."""

    def __init__(
        self,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        tokens: Sequence[Sequence[str]] | TermMatrix,
        filings: dict[str, Filing] | None = None,
        kind: str = "auto",
    ) -> None:
        n = len(passages)
        self.folder = Path(".")
        self.name = "memory"
        self.rows = n
        vectors = np.asarray(vectors, np.float32).reshape(n, -1)
        self.dim = vectors.shape[1]
        self._lock = threading.Lock()
        self._index = build_vector_index(vectors, kind)
        self.kind = index_kind(self._index)
        self._terms = tokens if isinstance(tokens, TermMatrix) else TermMatrix.build(tokens)
        self.code_table = sorted({p.code for p in passages})
        code_id = {c: i for i, c in enumerate(self.code_table)}
        self._codes = np.fromiter((code_id[p.code] for p in passages), np.int32, n)
        self._dates = np.fromiter((p.date.toordinal() if p.date else -1 for p in passages), np.int32, n)
        self._passages = list(passages)
        self._filings = dict(filings or {})
        self._texts = {}
        self._db = None
        self._mapped = {}

    def filing(self, filing_id: str) -> Filing | None:
        return self._filings.get(filing_id)

    def summaries(self) -> list[tuple[FilingSummary, int, int]]:
        spans: dict[str, list[int]] = {}
        for i, p in enumerate(self._passages):
            spans.setdefault(p.filing_id, [i, i + 1])[1] = i + 1
        return [
            (FilingSummary.of(f, len(range(*spans.get(f.id, [0, 0])))), *spans.get(f.id, [0, 0]))
            for f in self._filings.values()
        ]

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        return [self._passages[int(r)] for r in rows]
