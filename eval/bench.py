"""``irqa bench``: ingest throughput, index size, memory, latency at 1k–100k passages, flat vs HNSW.

How each figure is made (also written into the JSON under ``method``):

- **Ingest**: the real pipeline (``Engine.ingest_paths``) on the built-in sample filings into a
  temporary index, first with an empty temporary vector cache (cold: every passage embedded),
  then into a second temporary index with the now-filled cache (warm: nothing embedded).
- **Index bytes per passage**: file sizes of the sample index generation, and of the vectors,
  flat/HNSW FAISS files and BM25 token lists of the synthetic corpora below.
- **Corpora of 1k/10k/100k passages**: the real FinTruthQA answers with their real cached
  vectors and tokens; beyond the 5,898 real ones, copies whose vectors are the original plus
  Gaussian noise (σ = ``NOISE``, cosine to the original ≈ 0.97), re-normalized. Embedding 100k
  passages would take ~3 hours here, and search cost does not depend on the vectors' meaning.
- **Latency**: wall time per query, queries from FinTruthQA dev, one at a time, query embedding
  included. ``search`` = ``Retriever.search(k=10, hybrid)``; ``ask`` = search + the extractive
  answerer, as ``Engine.ask`` does (company resolution excluded: the corpus has no companies).
  The LangChain baseline is what ``FAISS.from_embeddings`` builds (``IndexFlatL2`` + in-memory
  docstore), filled from the same vectors without a Python-list round trip, with
  ``similarity_search_with_score(k=10)``; ratios are irqa / LangChain.
- **Memory**: peak RSS (``resource.getrusage``) after each stage, and the Python-heap peak
  (``tracemalloc``) while building the 100k snapshot (FAISS/numpy buffers are outside it).
- **Flat vs HNSW**: at the largest size, both ``VectorIndex`` kinds (HNSW M=32, efSearch 128):
  build time, per-query latency and recall@10 agreement of HNSW with exact flat search.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.rag.engine import EngineConfig

NOISE = 0.0125
Log = Callable[[str], None]


def _pcts(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "n": len(a)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _dir_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def bench_ingest(config: EngineConfig, embedder: Embedder, log: Log) -> dict[str, Any]:
    from irqa.rag.engine import Engine, sample_dir

    out: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="irqa-bench-"))
    try:
        cache = tmp / "cache"
        for label in ("cold", "warm"):
            engine = Engine(replace(config, index=tmp / f"index-{label}", cache_dir=cache), embedder)
            t0 = time.perf_counter()
            report = engine.ingest_paths([sample_dir()])
            secs = time.perf_counter() - t0
            out[label] = {
                "passages": report.passages,
                "embedded": report.embedded,
                "seconds": secs,
                "passages_per_s": report.passages / secs if secs else None,
            }
            log(f"ingest {label}: {report.passages} passages in {secs:.1f} s ({report.embedded} embedded)")
        gen = tmp / "index-warm" / (tmp / "index-warm" / "CURRENT").read_text().strip()
        n = out["warm"]["passages"]
        out["index_bytes_per_passage"] = {
            f.name: f.stat().st_size / n for f in sorted(gen.iterdir()) if f.is_file()
        } | {"total": _dir_bytes(gen) / n}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def synthetic_snapshot(base_passages, base_vectors: np.ndarray, base_tokens, n: int, seed: int = 0):
    """``n`` passages: the real ones first, then noisy copies (see module doc)."""
    from irqa.rag.store import Manifest, Snapshot

    rng = np.random.default_rng(seed)
    m = len(base_passages)
    idx = np.arange(n) % m
    vectors = base_vectors[idx].copy()
    extra = np.arange(n) >= m
    if extra.any():
        noise = rng.normal(0, NOISE, size=(int(extra.sum()), vectors.shape[1])).astype(np.float32)
        v = vectors[extra] + noise
        vectors[extra] = v / np.linalg.norm(v, axis=1, keepdims=True)
    passages = [
        base_passages[i]
        if j < m
        else base_passages[i].model_copy(update={"id": f"{base_passages[i].id}~{j}"})
        for j, i in enumerate(idx)
    ]
    tokens = [base_tokens[i] for i in idx]
    manifest = Manifest(embedder="bench", dim=vectors.shape[1], passages=n)
    return Snapshot(manifest, {}, passages, vectors, tokens)


def langchain_store(FAISS: Any, snap: Any, embeddings: Any) -> Any:
    """What ``FAISS.from_embeddings`` builds (IndexFlatL2 + in-memory docstore), filled from numpy."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_core.documents import Document

    index = faiss.IndexFlatL2(snap.vectors.shape[1])
    index.add(np.ascontiguousarray(snap.vectors, dtype=np.float32))
    ids = [str(i) for i in range(len(snap.passages))]
    docstore = InMemoryDocstore(
        {
            i: Document(page_content=p.text, metadata={"doc_id": p.id})
            for i, p in zip(ids, snap.passages, strict=True)
        }
    )
    return FAISS(embeddings, index, docstore, dict(enumerate(ids)))


def _time(fn: Callable[[str], Any], queries: Sequence[str]) -> list[float]:
    fn(queries[0])  # warm-up
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run_bench(
    config: EngineConfig,
    embedder: Embedder,
    corpus: Path,
    *,
    sizes: Sequence[int] = (1000, 10_000, 100_000),
    n_queries: int = 50,
    n_ask: int = 20,
    n_recall: int = 200,
    log: Log = print,
) -> dict[str, Any]:
    import warnings

    from irqa.embeddings.cache import VectorCache
    from irqa.embeddings.vector_index import HNSW_THRESHOLD, VectorIndex
    from irqa.eval.beir import load_beir
    from irqa.eval.langchain_baseline import make_embeddings
    from irqa.eval.runner import QueryVectorCache, beir_snapshot
    from irqa.rag.answer import Answerer
    from irqa.rag.companies import Resolution
    from irqa.rag.retriever import Retriever

    figures: dict[str, Any] = {
        "method": __doc__,
        "embedder": embedder.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    figures["ingest"] = bench_ingest(config, embedder, log)

    cache = VectorCache(config.cache_dir / "vectors.sqlite")
    ds = load_beir(corpus)
    base, fresh = beir_snapshot(ds, embedder, cache)
    log(f"base corpus: {len(base.passages)} real passages ({fresh} freshly embedded)")
    queries = [ds.queries[q] for q in ds.queries][: max(n_queries, n_recall)]
    params = config.fusion
    answerer = Answerer(embedder, config.answer)
    qcache = QueryVectorCache(embedder, cache)
    qvecs = qcache.embed_queries(queries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS

    figures["sizes"] = {}
    for n in sizes:
        tracemalloc.start()
        t0 = time.perf_counter()
        snap = synthetic_snapshot(base.passages, base.vectors, base.tokens, n)
        build_s = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        r = Retriever(snap, embedder, params)
        qs = queries[:n_queries]
        search_ms = _time(lambda q, r=r: r.search(q, 10), qs)

        def ask(q: str, r: Retriever = r) -> None:
            hits = r.search(q, 10)
            answerer.answer(q, hits, Resolution())

        ask_ms = _time(ask, queries[:n_ask])
        lc = langchain_store(FAISS, snap, make_embeddings(embedder, None))
        lc_ms = _time(lambda q, lc=lc: lc.similarity_search_with_score(q, k=10), qs)
        tok_bytes = len(json.dumps(snap.tokens, ensure_ascii=False).encode()) / n
        row = {
            "passages": n,
            "real_passages": min(n, len(base.passages)),
            "snapshot_build_s": build_s,
            "python_heap_peak_mb": py_peak / 2**20,
            "peak_rss_mb": _peak_rss_mb(),
            "search": _pcts(search_ms),
            "ask": _pcts(ask_ms),
            "langchain_search": _pcts(lc_ms),
            "search_vs_langchain_p50": float(np.median(search_ms) / np.median(lc_ms)),
            "bytes_per_passage": {
                "vectors": snap.vectors.nbytes / n,
                "bm25_tokens_json": tok_bytes,
            },
        }
        log(
            f"{n:>7,} passages: search p50 {row['search']['p50_ms']:.1f} ms p95 {row['search']['p95_ms']:.1f}; "
            f"ask p50 {row['ask']['p50_ms']:.0f} ms; langchain p50 {row['langchain_search']['p50_ms']:.1f} ms"
        )
        if n == max(sizes):
            figures["flat_vs_hnsw"] = flat_vs_hnsw(snap.vectors, qvecs[:n_recall], VectorIndex)
            figures["flat_vs_hnsw"]["hnsw_threshold_now"] = HNSW_THRESHOLD
        figures["sizes"][str(n)] = row
        del snap, r, lc
    figures["peak_rss_mb"] = _peak_rss_mb()
    return figures


def flat_vs_hnsw(vectors: np.ndarray, qvecs: np.ndarray, VectorIndex: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"passages": len(vectors), "queries": len(qvecs)}
    found = {}
    tmp = Path(tempfile.mkdtemp(prefix="irqa-hnsw-"))
    try:
        for kind in ("flat", "hnsw"):
            t0 = time.perf_counter()
            index = VectorIndex.build(vectors, kind)
            build_s = time.perf_counter() - t0
            lat = []
            rows = []
            for q in qvecs:
                t1 = time.perf_counter()
                _, r = index.search(q[None, :], 10)
                lat.append((time.perf_counter() - t1) * 1000)
                rows.append(r[0])
            found[kind] = rows
            index.save(tmp / f"{kind}.faiss")
            out[kind] = {
                "build_s": build_s,
                "bytes_per_passage": (tmp / f"{kind}.faiss").stat().st_size / len(vectors),
                **_pcts(lat),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    agree = [len(set(a) & set(b)) / 10 for a, b in zip(found["flat"], found["hnsw"], strict=True)]
    out["hnsw_recall@10_vs_flat"] = float(np.mean(agree))
    return out


def write_bench(figures: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def print_bench(figures: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    ing = figures["ingest"]
    console.print(
        f"[bold]Ingest[/] (sample filings, real pipeline): cold cache {ing['cold']['passages_per_s']:.1f} "
        f"passages/s ({ing['cold']['embedded']} embedded), warm cache {ing['warm']['passages_per_s']:.1f} "
        f"passages/s; index {ing['index_bytes_per_passage']['total']:,.0f} bytes/passage",
        highlight=False,
    )
    t = Table(title="Latency per query (ms), synthetic corpora from real FinTruthQA vectors")
    for col in (
        "passages",
        "search p50",
        "search p95",
        "ask p50",
        "ask p95",
        "LangChain p50",
        "LangChain p95",
        "search/LC",
        "peak RSS MB",
    ):
        t.add_column(col, justify="right")
    for n, row in figures["sizes"].items():
        t.add_row(
            f"{int(n):,}",
            f"{row['search']['p50_ms']:.1f}",
            f"{row['search']['p95_ms']:.1f}",
            f"{row['ask']['p50_ms']:.0f}",
            f"{row['ask']['p95_ms']:.0f}",
            f"{row['langchain_search']['p50_ms']:.1f}",
            f"{row['langchain_search']['p95_ms']:.1f}",
            f"{row['search_vs_langchain_p50']:.2f}×",
            f"{row['peak_rss_mb']:.0f}",
        )
    console.print(t)
    fh = figures.get("flat_vs_hnsw")
    if fh:
        console.print(
            f"[bold]Flat vs HNSW[/] at {fh['passages']:,} passages: flat p50 {fh['flat']['p50_ms']:.2f} ms, "
            f"HNSW p50 {fh['hnsw']['p50_ms']:.2f} ms (build {fh['hnsw']['build_s']:.0f} s, "
            f"{fh['hnsw']['bytes_per_passage']:.0f} vs {fh['flat']['bytes_per_passage']:.0f} bytes/passage), "
            f"HNSW recall@10 vs flat {fh['hnsw_recall@10_vs_flat']:.3f}",
            highlight=False,
        )
    console.print("[dim]How each figure was made: see 'method' in the JSON (eval/bench.py docstring).[/]")
