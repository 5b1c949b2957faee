"""The store interface: where filings, passages, vectors and BM25 statistics live.

A *store* is opened from a URI (``irqa.rag.store.factory.open_store``) and hands out immutable
*views*. The engine writes through :class:`Store` and reads only through :class:`StoreView`, so a
backend is one module implementing these two classes:

- ``local:PATH`` (the default, ``irqa.rag.store.local``): a folder of append-only segments and
  generations switched atomically — see that module.
- ``milvus://HOST:PORT`` and ``milvus-lite:PATH``: extension points for a Milvus server or an
  embedded Milvus Lite file (registered in ``factory.BACKENDS``; another helper adds them).

Rows. A view numbers its passages ``0 … slots-1``; some slots may be dead (a deleted or replaced
filing's rows before compaction) and are never returned. Row numbers are only meaningful within
one view.

Search. A backend implements the three primitives :meth:`StoreView.dense`,
:meth:`StoreView.bm25` and :meth:`StoreView.cosines`; irqa's fusion (``irqa.rag.retriever``)
combines them, so every backend ranks the same way. The retriever asks for BM25 through
:meth:`StoreView.lexical` (top rows, plus exact scores of any other rows), which a backend may
answer without scoring every row (the local store does on big views). A backend whose engine fuses natively may
override :meth:`StoreView.search` as long as the results match.

Example::

    >>> from irqa.rag.store import open_store
    >>> store = open_store(f"local:{engine.config.index}")
    >>> view = store.load(embedder.name, embedder.family)
    >>> rows, scores = view.dense(embedder.embed_queries(["视频 功耗"]), 10, view.allowed(Filters()))
    >>> view.passage(int(rows[0])).code
    '688088'
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from irqa.rag.analysis import Analyzer, JiebaDictionary
from irqa.rag.analysis.analyzer import SPEC as ANALYZER_SPEC
from irqa.rag.errors import CheckUnsupported, StoreError
from irqa.rag.models import Filing, FilingSummary, Passage

FORMAT = 2
Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class Filters:
    """Exact restrictions applied before ranking: company codes and a date range (inclusive)."""

    codes: Sequence[str] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def active(self) -> bool:
        return bool(self.codes) or self.date_from is not None or self.date_to is not None


@dataclass
class Manifest:
    """What a generation is: model, dimension, filings (id → content hash) and where they live."""

    embedder: str
    dim: int
    family: str = ""  # vectors of the same family are interchangeable (see Embedder.family)
    filings: dict[str, str] = field(default_factory=dict)  # filing id → content hash
    passages: int = 0  # live passages
    index_kind: str = "flat"
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format: int = FORMAT
    segments: list[str] = field(default_factory=list)  # local store: segment folders, in row order
    located: dict[str, list] = field(default_factory=dict)  # filing id → [segment, first row, end row]
    deleted: dict[str, list[int]] = field(default_factory=dict)  # segment → dead rows (tombstones)
    #: company names of the filings written (a superset after deletions): words for the BM25
    #: tokenizer, known at load without reading every filing's summary (Milvus: 67 s at 100k)
    companies: list[str] | None = None
    #: the analyzer that tokenized the index (manifests from before it was recorded read as the
    #: first spec, whose tokens are the same)
    analyzer: str = ANALYZER_SPEC

    def to_json(self) -> dict:
        return self.__dict__.copy()

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Upsert:
    """One filing to add or replace, with its passages, their vectors and lexical tokens."""

    filing: Filing
    passages: list[Passage]
    vectors: np.ndarray  # (len(passages), dim) float32, L2-normalized
    tokens: list[list[str]]


@dataclass
class LexicalHits:
    """One query's BM25 top rows (best first) and a way to score any other rows exactly."""

    rows: np.ndarray
    scores: np.ndarray
    score_of: Callable[[np.ndarray], np.ndarray]  # exact BM25 of the given rows

    @classmethod
    def of(cls, bm25: np.ndarray, n: int) -> LexicalHits:
        """From dense scores of every slot: the top ``n`` rows that hold a query term."""
        nz = np.flatnonzero(bm25)  # top-n among rows that have a query term, not every row
        m = min(n, len(nz))
        rows = nz[np.argpartition(-bm25[nz], m - 1)[:m]] if m else np.zeros(0, np.int64)
        rows = rows[np.lexsort((rows, -bm25[rows]))]
        return cls(rows.astype(np.int64), bm25[rows], lambda r: bm25[np.asarray(r, np.int64)])


class StoreView(ABC):
    """One immutable state of a store, safe to share between threads.

    ``analyzer`` is the index's: the one that tokenized its passages, which every query, the
    evidence and the grounding checks use too (the store builds it from the index's companies).
    """

    manifest: Manifest
    generation: str = ""
    analyzer: Analyzer

    # contents ---------------------------------------------------------------------------------
    @property
    @abstractmethod
    def slots(self) -> int:
        """Row numbers in use, dead ones included (``0 … slots-1``)."""

    @abstractmethod
    def live_rows(self) -> np.ndarray:
        """Every live row, ascending."""

    @abstractmethod
    def passage(self, row: int) -> Passage: ...

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        """The passages of ``rows``, in order (a backend overrides it to fetch them in one go)."""
        return [self.passage(int(r)) for r in rows]

    @abstractmethod
    def filing(self, filing_id: str) -> Filing | None: ...

    @abstractmethod
    def summaries(self) -> list[FilingSummary]:
        """Every filing, sorted by (code, date, id), without reading their texts."""

    @abstractmethod
    def passages_of(self, filing_id: str) -> list[Passage]: ...

    def __len__(self) -> int:
        """Live passages."""
        return self.manifest.passages

    @property
    def filings(self) -> Mapping[str, Filing]:
        """Filing id → Filing, read lazily (iterating reads every filing: prefer summaries())."""
        return _LazyFilings(self)

    @property
    def passages(self) -> Sequence[Passage]:
        """The live passages in row order, read lazily."""
        return _LazyPassages(self)

    def knows(self, term: str) -> bool:
        """Whether every word of ``term`` occurs in some passage (company-name resolution)."""
        return False

    def stats(self) -> dict[str, Any]:
        return {"passages": len(self), "filings": len(self.manifest.filings), "generation": self.generation}

    # search primitives ------------------------------------------------------------------------
    @abstractmethod
    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Live rows passing ``filters`` (sorted), or None when no filter is active."""

    @abstractmethod
    def dense(self, qv: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` (rows, cosines) for one query vector, best first, among ``allowed``."""

    @abstractmethod
    def bm25(self, tokens: Sequence[str], allowed: np.ndarray | None) -> np.ndarray:
        """BM25 score of every slot (0 for dead rows and rows outside ``allowed``)."""

    def lexical(self, tokens: Sequence[str], n: int, allowed: np.ndarray | None) -> LexicalHits:
        """The top ``n`` BM25 rows among ``allowed`` and exact scores of others (default: from
        :meth:`bm25`, i.e. every row scored)."""
        return LexicalHits.of(self.bm25(tokens, allowed), n)

    @abstractmethod
    def cosines(self, qv: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of the query with the given rows (the stored vectors' precision)."""

    def vectors_of(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Stored vectors of ``rows`` (default: all live rows), float32."""
        raise NotImplementedError

    @property
    def vectors(self) -> np.ndarray:
        """Every live vector, in row order (reads them all: for tests and tools)."""
        return self.vectors_of(None)


class Store(ABC):
    """A place filings are written to and views are loaded from.

    ``dictionary`` is where its analyzers' jieba dictionary comes from (``open_store`` sets it
    from the engine's configuration; the default is jieba's own, cached in ``$TMPDIR``).
    """

    uri: str
    dictionary: JiebaDictionary = JiebaDictionary()

    def analyzer(self, names: Sequence[str] | None) -> Analyzer:
        """An analyzer for an index of companies ``names``."""
        return Analyzer(self.dictionary, names or ())

    def check_analyzer(self, manifest: Manifest) -> None:
        """Refuse an index tokenized by another analyzer: its BM25 terms would not match ours."""
        if manifest.analyzer != ANALYZER_SPEC:
            raise StoreError(
                f"index at {self.uri} was tokenized by {manifest.analyzer!r}, not {ANALYZER_SPEC!r}; "
                "rebuild it with 'irqa ingest --rebuild PATH'"
            )

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def read_manifest(self) -> Manifest | None:
        """The live generation's manifest (cheap: no vectors or texts are read)."""

    @abstractmethod
    def current_generation(self) -> str | None:
        """An id that changes with every committed write (readers reload when it does)."""

    @abstractmethod
    def load(self, embedder_name: str | None = None, family: str = "") -> StoreView:
        """The live view; raises ``ModelMismatch`` for an index of another model family."""

    @abstractmethod
    def lock(self, timeout: float = 600) -> Any:
        """A context manager serializing writers (across processes for the local store)."""

    @abstractmethod
    def write(
        self,
        *,
        embedder: str,
        dim: int,
        family: str,
        upserts: Sequence[Upsert],
        delete: Sequence[str] = (),
        rebuild: bool = False,
    ) -> StoreView:
        """Add/replace ``upserts``, remove ``delete`` (filing ids), atomically; returns the new view.

        ``rebuild``: the result holds only ``upserts``. Call with ``lock()`` held.
        """

    def compact(self) -> StoreView | None:
        """Merge segments and drop dead rows (no-op where the backend does it itself)."""
        return None

    def compact_if_needed(self) -> StoreView | None:
        """The automatic merge after a write; None when nothing was merged (the default)."""
        return None

    def check(self) -> Any:
        """Verify every stored file against its recorded checksum (``irqa index check``); a store
        whose files irqa does not write itself (Milvus) cannot, and says so."""
        raise CheckUnsupported(
            f"{self.uri}: 'irqa index check' verifies the files of irqa's local store only"
        )


class _LazyFilings(Mapping[str, Filing]):
    def __init__(self, view: StoreView) -> None:
        self._view = view

    def __getitem__(self, key: str) -> Filing:
        f = self._view.filing(key)
        if f is None:
            raise KeyError(key)
        return f

    def __contains__(self, key: object) -> bool:
        return key in self._view.manifest.filings

    def __iter__(self) -> Iterator[str]:
        return iter(self._view.manifest.filings)

    def __len__(self) -> int:
        return len(self._view.manifest.filings)


class _LazyPassages(Sequence[Passage]):
    def __init__(self, view: StoreView) -> None:
        self._view = view
        self._rows: np.ndarray | None = None

    def _live(self) -> np.ndarray:
        if self._rows is None:
            self._rows = self._view.live_rows()
        return self._rows

    def __len__(self) -> int:
        return len(self._view)

    def __getitem__(self, i):  # type: ignore[override]
        rows = self._live()
        if isinstance(i, slice):
            return [self._view.passage(int(r)) for r in rows[i]]
        return self._view.passage(int(rows[i]))
