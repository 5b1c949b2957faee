"""The Milvus store: ``milvus://[USER:PASSWORD@]HOST:PORT[/PREFIX]`` and ``milvus-lite:PATH.db``.

For one big Milvus server (Standalone) or a cluster (Distributed). The view implements the
same search primitives as the local store (``dense``, ``bm25``, ``cosines``, ``allowed``), so
irqa's own fusion (``irqa.rag.retriever``) ranks Milvus candidates exactly as it ranks local
ones; only the engines that propose and score candidates are Milvus's.

Collections (``PREFIX`` defaults to ``irqa``)::

    PREFIX_passages   row INT64 (primary key; irqa's row number) · passage_id · filing_id ·
                      code VARCHAR · date INT64 (date ordinal, -1 unknown) ·
                      vector FLOAT_VECTOR(dim), index FLAT (Lite) or HNSW M=16 efConstruction=200
                      (server), metric IP = cosine of L2-normalized vectors ·
                      lexical VARCHAR (analyzer "standard") → BM25 Function → sparse
                      SPARSE_FLOAT_VECTOR, index SPARSE_INVERTED_INDEX, metric BM25 (k1, b from irqa.rag.lexical) ·
                      passage VARCHAR (the Passage as JSON)
    PREFIX_filings    key "<filing id>@<hash prefix>/<part>" · filing_id · part · summary (JSON, part 0) ·
                      body (a ≤16k-character slice of the Filing's JSON; Milvus VARCHAR caps at 64 KB)
    PREFIX_meta       "head": the committed state (generation, next row, live passages, pending
                      clean-up); "m<gen>/<part>": that generation's Manifest as JSON slices

Lexical features are irqa's own (the index's ``Analyzer.tokenize``: jieba words + character
bigrams), each written as a short base32 hash code, so Milvus's ``standard`` tokenizer (the
one Milvus Lite and every server have) keeps every feature whole and BM25 sees exactly the
terms the local store sees. Milvus computes IDF and average length itself: on a server over
the whole collection; **in Milvus Lite per segment**, so passages written by a later small
ingest score against their own tiny segment (an upserted copy scored 2.5 vs 19 for the
original). With Lite, build in bulk and re-run ``irqa ingest --rebuild PATH`` after many small
writes; on a server ``irqa index compact`` merges segments (``MilvusClient.compact``).

Filters are Milvus boolean expressions: ``code in ["688088"] and date >= 738886 and date <= …``.

Consistency. Milvus has no transaction across rows, so a write commits by upserting the one
``head`` row: new passages get rows ≥ the old head's ``next_row`` and stay invisible (every
search filters ``row < next_row``) until the head moves; replaced rows are listed in the head as
``pending`` (hidden from views at once) and deleted afterwards. A crashed writer's leftovers
(rows ≥ ``next_row``, unlisted manifests, pending rows) are removed by the next writer.
Writers are serialized by a file lock on this machine only: run one ingest at a time per
collection (``irqa ingest --ray`` writes from its driver alone). For Milvus Lite the lock file
lies beside the ``.db`` (``PATH.db.irqa-write.lock``), never in the shared ``/tmp`` where any
user could create it first; for a server, in the temporary folder. A Milvus Lite file is open
in one process at a time (milvus-lite holds a lock on it): a second process gets
:class:`LiteFileBusy` (code ``index_locked``), one error line saying what to do, not a traceback.

Example::

    >>> store = open_store("milvus-lite:/tmp/irqa.db")  # doctest: +SKIP
    >>> view = store.write(embedder=e.name, dim=e.dim, family=e.family, upserts=[...])  # doctest: +SKIP
    >>> view.dense(e.embed_queries(["视频 功耗"]), 10, view.allowed(Filters(codes=["688088"])))  # doctest: +SKIP

(tests/test_milvus_store.py runs all of this against a real ``milvus-lite server``.)
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from filelock import FileLock
from irqa.rag.analysis import Analyzer
from irqa.rag.errors import ModelMismatch, StoreError
from irqa.rag.lexical import K1, B
from irqa.rag.models import Filing, FilingSummary, Passage
from irqa.rag.store.base import Filters, LexicalHits, Manifest, Store, StoreView, Upsert

#: Milvus caps a search's top-k at 16384: the BM25 primitive scores at most this many rows
MAX_TOPK = 16384
#: characters of JSON per VARCHAR cell (≤ 3 bytes each in UTF-8, under Milvus' 65,535-byte cap)
PART_CHARS = 16000
#: rows per insert request
BATCH_ROWS = 256
_DUMMY = [0.0, 1.0]  # Milvus wants a vector field in every collection


class LiteFileBusy(StoreError):
    """The Milvus Lite file is open in another process (Lite allows one at a time)."""

    code = "index_locked"


def _lite_locked(path: Path) -> bool:
    """Whether another process holds milvus-lite's lock on the ``.db`` folder (its ``LOCK``
    file, flock'ed while the file is open). Probed only after opening failed."""
    lock = path / "LOCK"
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: milvus-lite locks with msvcrt there
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def term_code(token: str) -> str:
    """A lexical feature as one ASCII word the ``standard`` tokenizer keeps whole (48-bit hash)."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=6).digest()
    return "t" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def lexical_text(tokens: Iterable[str]) -> str:
    return " ".join(term_code(t) for t in tokens)


def _slices(text: str) -> list[str]:
    return [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


class RowSet(np.ndarray):
    """Rows passing a filter, carrying the Milvus expression that selected them (``expr``), so
    searches filter in Milvus instead of sending the row list back."""

    expr: str = ""

    def __array_finalize__(self, obj: Any) -> None:
        self.expr = getattr(obj, "expr", "")


def filter_expr(filters: Filters) -> str:
    """``Filters`` as a Milvus boolean expression ("" when none is active)."""
    parts = []
    if filters.codes:
        parts.append(f"code in {json.dumps(list(filters.codes))}")
    if filters.date_from is not None:
        parts.append(f"date >= {filters.date_from.toordinal()}")
    if filters.date_to is not None:
        parts.append(f"(date <= {filters.date_to.toordinal()} and date >= 0)")
    return " and ".join(parts)


class MilvusView(StoreView):
    """One committed state: rows below ``next_row``, minus the head's pending (replaced) rows."""

    def __init__(self, store: MilvusStore, manifest: Manifest, head: dict, analyzer: Analyzer) -> None:
        self.store = store
        self.manifest = manifest
        self.analyzer = analyzer
        self.generation = f"g{head['gen']}"
        self._slots = int(head["next_row"])
        hidden = " or ".join(
            f"(row >= {a} and row < {b})" for a, b in head.get("pending", {}).get("rows", [])
        )
        self._base = f"row < {self._slots}" + (f" and not ({hidden})" if hidden else "")

    @property
    def client(self):
        return self.store.client

    def _expr(self, allowed: np.ndarray | None) -> str:
        if allowed is None:
            return self._base
        extra = getattr(allowed, "expr", "") or f"row in {np.asarray(allowed, np.int64).tolist()}"
        return f"{self._base} and {extra}"

    def _query(self, expr: str, fields: list[str]) -> list[dict]:
        out: list[dict] = []
        it = self.client.query_iterator(
            self.store.passages, batch_size=4096, filter=expr, output_fields=fields
        )
        try:
            while batch := it.next():
                out += batch
        finally:
            it.close()
        return out

    # contents ---------------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return self._slots

    def live_rows(self) -> np.ndarray:
        rows = [r["row"] for r in self._query(self._base, ["row"])]
        return np.asarray(sorted(rows), np.int64)

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        got = self.client.query(
            self.store.passages, filter=f"row in {rows}", output_fields=["row", "passage"], limit=len(rows)
        )
        by_row = {r["row"]: Passage.model_validate_json(r["passage"]) for r in got}
        return [by_row[r] for r in rows]

    def passage(self, row: int) -> Passage:
        return self.passages_at([row])[0]

    @property
    def passages(self) -> list[Passage]:  # type: ignore[override]
        """Every live passage in row order, fetched in batches (for tools and tests)."""
        rows = self.live_rows().tolist()
        return [p for a in range(0, len(rows), 4096) for p in self.passages_at(rows[a : a + 4096])]

    def passages_of(self, filing_id: str) -> list[Passage]:
        loc = self.manifest.located.get(filing_id)
        if not loc or loc[2] <= loc[1]:
            return []
        return self.passages_at(range(int(loc[1]), int(loc[2])))

    def filing(self, filing_id: str) -> Filing | None:
        h = self.manifest.filings.get(filing_id)
        if h is None:
            return None
        got = self.client.query(
            self.store.filings,
            filter=f"key like {json.dumps(_filing_key(filing_id, h, None) + '%')}",
            output_fields=["part", "body"],
            limit=16384,
        )
        if not got:
            return None
        return Filing.model_validate_json("".join(r["body"] for r in sorted(got, key=lambda r: r["part"])))

    def summaries(self) -> list[FilingSummary]:
        want = {_filing_key(f, h, 0) for f, h in self.manifest.filings.items()}
        out = []
        it = self.client.query_iterator(
            self.store.filings, batch_size=4096, filter="part == 0", output_fields=["key", "summary"]
        )
        try:
            while batch := it.next():
                out += [FilingSummary.model_validate_json(r["summary"]) for r in batch if r["key"] in want]
        finally:
            it.close()
        return sorted(out, key=lambda s: (s.code, s.date or dt.date.min, s.id))

    def knows(self, term: str) -> bool:
        toks = self.analyzer.words(term)
        return bool(toks) and all(len(self._bm25_search(lexical_text([t]), 1, self._base)[0]) for t in toks)

    def stats(self) -> dict:
        return {
            **super().stats(),
            "store": self.store.uri,
            "collections": [self.store.passages, self.store.filings, self.store.meta],
            "next_row": self._slots,
            "vector_index": self.store.index_params(),
        }

    # search -----------------------------------------------------------------------------------
    def allowed(self, filters: Filters) -> np.ndarray | None:
        if not filters.active():
            return None
        expr = filter_expr(filters)
        rows = np.asarray(
            sorted(r["row"] for r in self._query(f"{self._base} and {expr}", ["row"])), np.int64
        )
        out = rows.view(RowSet)
        out.expr = f"({expr})"
        return out

    def dense(self, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None and len(allowed) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        got = self.client.search(
            self.store.passages,
            data=[np.asarray(qv, np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=min(n, MAX_TOPK),
            filter=self._expr(allowed),
            search_params={"metric_type": "IP", "params": self.store.search_params(n)},
            output_fields=["row"],
        )[0]
        rows = np.asarray([h["row"] for h in got], np.int64)
        scores = np.asarray([h["distance"] for h in got], np.float32)
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    def _bm25_search(self, text: str, limit: int, expr: str) -> tuple[np.ndarray, np.ndarray]:
        got = self.client.search(
            self.store.passages,
            data=[text],
            anns_field="sparse",
            limit=limit,
            filter=expr,
            search_params={"metric_type": "BM25"},
            output_fields=["row"],
        )[0]
        # Milvus Lite reports BM25 as a negated distance, a server as a positive score
        return np.asarray([h["row"] for h in got], np.int64), np.abs([h["distance"] for h in got])

    def bm25(self, tokens: Sequence[str], allowed: np.ndarray | None) -> np.ndarray:
        """Milvus BM25 of the best ``min(slots, 16384)`` matching rows (the rest score 0)."""
        out = np.zeros(self._slots, np.float32)
        if not tokens or not self._slots or (allowed is not None and len(allowed) == 0):
            return out
        rows, scores = self._bm25_search(
            lexical_text(tokens), min(self._slots, MAX_TOPK), self._expr(allowed)
        )
        out[rows] = scores
        return out

    def lexical(self, tokens: Sequence[str], n: int, allowed: np.ndarray | None) -> LexicalHits:
        """Milvus' top ``n`` BM25 rows, and the BM25 of any other row the fusion needs from a
        second search filtered to exactly those rows (instead of fetching 16k scored rows per
        question: 1.3 s per search at 100k passages in Milvus Lite)."""
        empty = np.zeros(0, np.int64)
        if not tokens or not self._slots or (allowed is not None and len(allowed) == 0):
            return LexicalHits(empty, np.zeros(0, np.float32), lambda r: np.zeros(len(r), np.float32))
        text = lexical_text(tokens)
        rows, scores = self._bm25_search(text, min(max(n, 1), MAX_TOPK), self._expr(allowed))
        order = np.lexsort((rows, -scores))
        rows, scores = rows[order], np.asarray(scores, np.float32)[order]
        known = dict(zip(rows.tolist(), scores.tolist(), strict=True))
        allowed_set = None if allowed is None else set(np.asarray(allowed).tolist())

        def score_of(want: np.ndarray) -> np.ndarray:
            want = [int(r) for r in np.asarray(want, np.int64)]
            missing = [r for r in want if r not in known and (allowed_set is None or r in allowed_set)]
            for at in range(0, len(missing), MAX_TOPK):
                part = missing[at : at + MAX_TOPK]
                got_rows, got = self._bm25_search(text, len(part), f"{self._base} and row in {part}")
                known.update(zip(got_rows.tolist(), np.asarray(got, np.float32).tolist(), strict=True))
            return np.asarray([known.get(r, 0.0) for r in want], np.float32)

        return LexicalHits(rows, scores, score_of)

    def cosines(self, qv: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.vectors_of(np.asarray(rows, np.int64)) @ np.asarray(qv, np.float32).reshape(-1)

    def vectors_of(self, rows: np.ndarray | None = None) -> np.ndarray:
        rows = self.live_rows() if rows is None else np.asarray(rows, np.int64)
        out = np.zeros((len(rows), self.manifest.dim), np.float32)
        want = rows.tolist()
        for at in range(0, len(want), 4096):
            part = want[at : at + 4096]
            got = self.client.query(
                self.store.passages, filter=f"row in {part}", output_fields=["row", "vector"], limit=len(part)
            )
            where = {r: i for i, r in enumerate(want)}
            for g in got:
                out[where[g["row"]]] = np.asarray(g["vector"], np.float32)
        return out


def _filing_key(filing_id: str, content_hash: str, part: int | None) -> str:
    base = f"{filing_id}@{content_hash[:16]}/"
    return base if part is None else f"{base}{part}"


class MilvusStore(Store):
    """Writes and reads three collections on a Milvus server, cluster or Milvus Lite file."""

    def __init__(
        self, uri: str, client_uri: str, *, token: str = "", prefix: str = "irqa", options: dict | None = None
    ) -> None:
        self.uri = uri
        self.root = uri  # for messages ("no index at …")
        self.client_uri, self.token, self.prefix = client_uri, token, prefix
        self.options = options or {}
        self.lite = not client_uri.startswith(("http://", "https://", "tcp://"))
        self.passages, self.filings, self.meta = (f"{prefix}_{s}" for s in ("passages", "filings", "meta"))
        self._client = None
        self._loaded = False

    @property
    def client(self):
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as e:  # pragma: no cover - the scale extra is missing
                raise StoreError(f"the Milvus store needs pymilvus: pip install -e '.[scale]' ({e})") from e
            # probed first: milvus-lite logs a traceback of its own when it finds the file locked
            if self.lite and _lite_locked(Path(self.client_uri)):
                raise self._busy()
            try:
                self._client = MilvusClient(uri=self.client_uri, token=self.token)
            except Exception as e:
                if self.lite and _lite_locked(Path(self.client_uri)):  # locked since the probe
                    raise self._busy() from None
                raise StoreError(f"cannot reach Milvus at {self.client_uri} ({e})") from e
        return self._client

    def _busy(self) -> LiteFileBusy:
        return LiteFileBusy(
            f"the Milvus Lite file {self.client_uri} is open in another process (Milvus Lite allows "
            f"one at a time): stop that process, or serve the file with 'milvus-lite server' and use "
            f"milvus://HOST:PORT from every process"
        )

    # parameters ------------------------------------------------------------------------------
    def index_params(self) -> dict:
        kind = self.options.get("index", "FLAT" if self.lite else "HNSW").upper()
        params = {"M": 16, "efConstruction": 200} if kind == "HNSW" else {}
        if kind.startswith("IVF"):
            params = {"nlist": int(self.options.get("nlist", 1024))}
        return {"index_type": kind, "metric_type": "IP", "params": params}

    def search_params(self, n: int) -> dict:
        kind = self.index_params()["index_type"]
        if kind == "HNSW":
            return {"ef": max(int(self.options.get("ef", 256)), n)}
        if kind.startswith("IVF"):
            return {"nprobe": int(self.options.get("nprobe", 64))}
        return {}

    # reading ---------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        """Load the collections into memory once per client: a reopened Milvus Lite file or a
        restarted server has them released, and released collections refuse queries."""
        if self._loaded:
            return
        for name in (self.passages, self.filings, self.meta):
            if self.client.has_collection(name):
                self.client.load_collection(name)
        self._loaded = True

    def _head(self) -> dict | None:
        if not self.client.has_collection(self.meta):
            return None
        self._ensure_loaded()
        got = self.client.query(self.meta, filter='key == "head"', output_fields=["data"], limit=1)
        return json.loads(got[0]["data"]) if got else None

    def exists(self) -> bool:
        return self._head() is not None

    def current_generation(self) -> str | None:
        head = self._head()
        return f"g{head['gen']}" if head else None

    def _manifest_of(self, head: dict) -> Manifest:
        like = json.dumps(f"m{head['gen']}/%")
        got = self.client.query(
            self.meta,
            filter=f"key like {like}",
            output_fields=["key", "data"],
            limit=16384,
        )
        parts = sorted(got, key=lambda r: int(r["key"].split("/")[1]))
        try:
            return Manifest.from_json(json.loads("".join(r["data"] for r in parts)))
        except (ValueError, TypeError) as e:
            raise StoreError(f"the Milvus index at {self.uri} is unreadable ({e}); rebuild it") from e

    def read_manifest(self) -> Manifest | None:
        head = self._head()
        return self._manifest_of(head) if head else None

    def load(self, embedder_name: str | None = None, family: str = "") -> MilvusView:
        head = self._head()
        if head is None:
            raise StoreError(f"no index at {self.uri}; build one with 'irqa ingest PATH'")
        manifest = self._manifest_of(head)
        self.check_analyzer(manifest)
        same_family = bool(family) and manifest.family == family
        if embedder_name and manifest.embedder != embedder_name and not same_family:
            raise ModelMismatch(
                f"index at {self.uri} was built with {manifest.embedder!r}, not {embedder_name!r}; "
                f"use the same model (IRQA_EMBEDDER) or rebuild with 'irqa ingest --rebuild'"
            )
        view = MilvusView(self, manifest, head, self.analyzer(manifest.companies))
        if manifest.companies is None:  # written before the manifest kept them
            manifest.companies = sorted({s.company for s in view.summaries() if s.company})
            view.analyzer = self.analyzer(manifest.companies)
        return view

    # writing ---------------------------------------------------------------------------------
    def lock_path(self) -> Path:
        """The writers' lock file: beside a Milvus Lite ``.db``, in the temporary folder for a server."""
        if self.lite:
            db = Path(self.client_uri)
            suffix = "" if self.prefix == "irqa" else f".{self.prefix}"
            return db.with_name(f"{db.name}{suffix}.irqa-write.lock")
        name = hashlib.sha1(f"{self.client_uri}|{self.prefix}".encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"irqa-milvus-{name}.lock"

    def lock(self, timeout: float = 600) -> FileLock:
        """Serializes writers on this machine (one writer per collection prefix and address)."""
        return FileLock(str(self.lock_path()), timeout=timeout)

    def _create(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        if not c.has_collection(self.passages):
            s = c.create_schema(auto_id=False)
            s.add_field("row", DataType.INT64, is_primary=True)
            s.add_field("passage_id", DataType.VARCHAR, max_length=1024)
            s.add_field("filing_id", DataType.VARCHAR, max_length=1024)
            s.add_field("code", DataType.VARCHAR, max_length=64)
            s.add_field("date", DataType.INT64)
            s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            s.add_field(
                "lexical",
                DataType.VARCHAR,
                max_length=65535,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"},
            )
            s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            s.add_field("passage", DataType.VARCHAR, max_length=65535)
            s.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["lexical"],
                    output_field_names=["sparse"],
                )
            )
            ip = c.prepare_index_params()
            ip.add_index("vector", **self.index_params())
            ip.add_index(
                "sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": K1, "bm25_b": B},
            )
            c.create_collection(self.passages, schema=s, index_params=ip, consistency_level="Strong")
        for name, extra in ((self.filings, True), (self.meta, False)):
            if c.has_collection(name):
                continue
            s = c.create_schema(auto_id=False)
            s.add_field("key", DataType.VARCHAR, max_length=2048, is_primary=True)
            if extra:
                s.add_field("filing_id", DataType.VARCHAR, max_length=1024)
                s.add_field("part", DataType.INT64)
                s.add_field("summary", DataType.VARCHAR, max_length=65535)
                s.add_field("body", DataType.VARCHAR, max_length=65535)
            else:
                s.add_field("data", DataType.VARCHAR, max_length=65535)
            s.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
            ip = c.prepare_index_params()
            ip.add_index("dummy", index_type="FLAT", metric_type="L2")
            c.create_collection(name, schema=s, index_params=ip, consistency_level="Strong")

    def _drop(self) -> None:
        for name in (self.passages, self.filings, self.meta):
            if self.client.has_collection(name):
                self.client.drop_collection(name)
        self._loaded = False

    def _put_head(self, head: dict) -> None:
        self.client.upsert(self.meta, [{"key": "head", "data": json.dumps(head), "dummy": _DUMMY}])

    def _clean(self, head: dict) -> dict:
        """Remove what the last write left to delete (pending rows, old bodies, old manifests) and
        what a crashed writer left (rows at or past ``next_row``, manifests of other generations)."""
        c, pend = self.client, head.get("pending", {})
        c.delete(self.passages, filter=f"row >= {int(head['next_row'])}")
        for a, b in pend.get("rows", []):
            c.delete(self.passages, filter=f"row >= {a} and row < {b}")
        for prefix in pend.get("bodies", []):
            c.delete(self.filings, filter=f"key like {json.dumps(prefix + '%')}")
        keep = json.dumps(f"m{head['gen']}/%")
        c.delete(self.meta, filter=f'key like "m%" and not (key like {keep})')
        if pend:
            head = {**head, "pending": {}}
            self._put_head(head)
        return head

    def write(
        self,
        *,
        embedder: str,
        dim: int,
        family: str,
        upserts: Sequence[Upsert],
        delete: Sequence[str] = (),
        rebuild: bool = False,
    ) -> MilvusView:
        """Insert new passages in batches, commit by moving the head, then delete replaced rows."""
        try:
            return self._write(embedder, dim, family, upserts, delete, rebuild)
        except StoreError:
            raise
        except Exception as e:  # pymilvus raises MilvusException / grpc errors
            raise StoreError(f"could not write to Milvus at {self.uri} ({e}); run the ingest again") from e

    def _write(self, embedder, dim, family, upserts, delete, rebuild) -> MilvusView:
        c = self.client
        if rebuild:
            self._drop()
        self._create(dim)
        head = self._head()
        if head is not None:
            head = self._clean(head)
            old = self._manifest_of(head)
            if old.companies is None:  # an index written before the manifest kept them
                old.companies = self.load().manifest.companies
            if old.dim != dim:
                raise StoreError(f"the Milvus index at {self.uri} holds {old.dim}-d vectors, not {dim}-d")
        else:
            head = {"gen": 0, "next_row": 0, "pending": {}}
            old = Manifest(embedder=embedder, dim=dim, family=family)
        m = Manifest.from_json(old.to_json())
        m.embedder, m.dim, m.family = embedder, dim, family
        dead_rows: list[list[int]] = []
        dead_bodies: list[str] = []
        for fid in [*delete, *(u.filing.id for u in upserts)]:
            loc = m.located.pop(fid, None)
            h = m.filings.pop(fid, None)
            if loc is not None and loc[2] > loc[1]:
                dead_rows.append([int(loc[1]), int(loc[2])])
            if h is not None:
                dead_bodies.append(_filing_key(fid, h, None))
        row = int(head["next_row"])
        batch = int(self.options.get("batch", BATCH_ROWS))
        pending_rows: list[dict] = []
        for u in upserts:
            f = u.filing
            first = row
            vecs = np.asarray(u.vectors, np.float32).reshape(len(u.passages), dim)
            for p, v, toks in zip(u.passages, vecs, u.tokens, strict=True):
                pending_rows.append(
                    {
                        "row": row,
                        "passage_id": p.id,
                        "filing_id": p.filing_id,
                        "code": p.code,
                        "date": p.date.toordinal() if p.date else -1,
                        "vector": v.tolist(),
                        "lexical": lexical_text(toks),
                        "passage": p.model_dump_json(),
                    }
                )
                row += 1
                if len(pending_rows) >= batch:
                    c.insert(self.passages, pending_rows)
                    pending_rows = []
            m.filings[f.id] = f.content_hash
            m.located[f.id] = ["milvus", first, row]
            summary = FilingSummary.of(f, len(u.passages)).model_dump_json()
            body = [
                {
                    "key": _filing_key(f.id, f.content_hash, i),
                    "filing_id": f.id,
                    "part": i,
                    "summary": summary if i == 0 else "",
                    "body": part,
                    "dummy": _DUMMY,
                }
                for i, part in enumerate(_slices(f.model_dump_json()))
            ]
            c.upsert(self.filings, body)
            dead_bodies = [b for b in dead_bodies if b != _filing_key(f.id, f.content_hash, None)]
        if pending_rows:
            c.insert(self.passages, pending_rows)
        m.passages = int(old.passages) + (row - int(head["next_row"])) - sum(b - a for a, b in dead_rows)
        m.companies = sorted(
            set(old.companies or []) | {u.filing.company for u in upserts if u.filing.company}
        )
        m.index_kind = self.index_params()["index_type"].lower()
        m.segments, m.deleted = [], {}
        m.versions = _versions()
        m.created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        gen = int(head["gen"]) + 1
        text = json.dumps(m.to_json(), ensure_ascii=False, separators=(",", ":"))
        c.upsert(
            self.meta,
            [{"key": f"m{gen}/{i}", "data": part, "dummy": _DUMMY} for i, part in enumerate(_slices(text))],
        )
        c.flush(self.passages)
        new_head = {"gen": gen, "next_row": row, "pending": {"rows": dead_rows, "bodies": dead_bodies}}
        self._put_head(new_head)  # the commit point
        self._clean(new_head)
        return self.load()

    def compact(self) -> MilvusView | None:
        """Ask Milvus to merge segments (a server also merges BM25 statistics; Lite does not —
        rebuild there) and wait for it."""
        if not self.exists():
            return None
        job = self.client.compact(self.passages)
        for _ in range(600):
            state = str(self.client.get_compaction_state(job)) if job else "Completed"
            if "Completed" in state or "completed" in state:
                break
            time.sleep(1)
        return self.load()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("irqa", "pymilvus", "milvus-lite"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def _options(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


def create(uri: str, target: str) -> MilvusStore:
    """``milvus://[USER:PASSWORD@]HOST:PORT[/PREFIX][?index=HNSW&ef=256&batch=256]``."""
    parts = urlsplit(f"milvus://{target}")
    if not parts.hostname:
        raise StoreError(f"a Milvus store URI needs a host: milvus://HOST:PORT (got {uri!r})")
    token = f"{parts.username}:{parts.password or ''}" if parts.username else ""
    prefix = parts.path.strip("/") or "irqa"
    client_uri = f"http://{parts.hostname}:{parts.port or 19530}"
    return MilvusStore(uri, client_uri, token=token, prefix=prefix, options=_options(parts.query))


def create_lite(uri: str, target: str) -> MilvusStore:
    """``milvus-lite:PATH.db[?prefix=irqa&index=FLAT]``: an embedded Milvus Lite file (one process
    at a time may open it; serve it with ``milvus-lite server`` for several)."""
    path, _, query = target.partition("?")
    if not path:
        raise StoreError(f"a Milvus Lite store URI needs a file: milvus-lite:PATH.db (got {uri!r})")
    options = _options(query)
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    return MilvusStore(uri, str(p), prefix=options.pop("prefix", "irqa"), options=options)
