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

fp16 keeps cosines within ~1e-4 of float32 and recall@10 at 1.0 of exact search (measured in
``eval/bench.py``), at half the bytes; SQ8 measured 0.99 and was not needed for the size target.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
from irqa.rag.lexical import TermMatrix
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.npy import open_npy

#: segments with at least this many rows get an inverted-file (IVF) index over the same fp16 codes
#: (see eval/bench.py for the measurement: recall@10 vs exact, latency, build time; HNSW built
#: 10-50x slower here and recalled less on near-duplicate passages)
ANN_THRESHOLD = 50_000
NPROBE = 96
#: filtered searches over at most this many rows are exact scans of the decoded vectors
SCAN_BELOW = 8192


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
    """Write a segment; passages of one filing must be contiguous. Returns filing id → [first, end)."""
    folder.mkdir(parents=True)
    n = len(passages)
    index = build_vector_index(vectors.reshape(n, -1) if n else vectors, kind)
    faiss.write_index(index, str(folder / "dense.faiss"))
    terms = tokens if isinstance(tokens, TermMatrix) else TermMatrix.build(tokens)
    terms.save(folder / "lexical")
    codes = sorted({p.code for p in passages})
    code_id = {c: i for i, c in enumerate(codes)}
    np.save(folder / "codes.npy", np.fromiter((code_id[p.code] for p in passages), np.int32, n))
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
    texts = {f.id: f.text for f in filings}
    db = sqlite3.connect(folder / "docs.sqlite")
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
    db.close()
    meta = {"rows": n, "dim": int(index.d), "kind": index_kind(index), "codes": codes}
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return spans


class Segment:
    """Read side of a segment folder; every part is opened on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self.rows: int = meta["rows"]
        self.dim: int = meta["dim"]
        self.kind: str = meta["kind"]
        self.code_table: list[str] = meta["codes"]
        self._lock = threading.Lock()
        self._index: faiss.Index | None = None
        self._terms: TermMatrix | None = None
        self._codes: np.ndarray | None = None
        self._dates: np.ndarray | None = None
        self._db: sqlite3.Connection | None = None
        self._texts: dict[str, str] = {}

    # parts, opened lazily ---------------------------------------------------------------------
    @property
    def index(self) -> faiss.Index:
        if self._index is None:
            path = str(self.folder / "dense.faiss")
            with self._lock:
                if self._index is None:
                    # memory-map flat codes where this FAISS can (IO_FLAG_MMAP_IFC); else read them
                    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if self.kind == "flat" else 0
                    self._index = faiss.read_index(path, flag)
        return self._index

    @property
    def terms(self) -> TermMatrix:
        if self._terms is None:
            self._terms = TermMatrix.load(self.folder / "lexical")
        return self._terms

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            self._codes = open_npy(self.folder / "codes.npy")
        return self._codes

    @property
    def dates(self) -> np.ndarray:
        if self._dates is None:
            self._dates = open_npy(self.folder / "dates.npy")
        return self._dates

    def _sql(self, query: str, args: Sequence = ()) -> list[tuple]:
        with self._lock:
            if self._db is None:
                uri = f"file:{self.folder / 'docs.sqlite'}?mode=ro&immutable=1"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return self._db.execute(query, args).fetchall()

    # documents --------------------------------------------------------------------------------
    def filing(self, filing_id: str) -> Filing | None:
        found = self._sql("SELECT data FROM filings WHERE id = ?", [filing_id])
        return Filing.model_validate(_unpack(found[0][0])) if found else None

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
            d = _unpack(found[r])
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
