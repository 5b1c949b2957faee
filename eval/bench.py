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
  answerer, as ``Engine.ask`` does (company resolution excluded: the corpus has no companies),
  embedding its candidate sentences; ``ask_quote_vectors`` the same with those sentences' vectors
  already in the vector cache, as ingest puts them there by default (``quote_vectors_at_ingest``).
  The LangChain baseline is what ``FAISS.from_embeddings`` builds (``IndexFlatL2`` + in-memory
  docstore), filled from the same vectors without a Python-list round trip, with
  ``similarity_search_with_score(k=10)``, measured twice: with irqa's own query embedder (same
  model, same runtime: only the search differs) and as such a script is usually written, with
  ``HuggingFaceEmbeddings`` (sentence-transformers in torch) over the same converted model.
  Ratios are LangChain / irqa.
- **Full rewrite vs append**: ``full_rewrite_s`` is the time to write the whole store once (what
  every ingest cost before the segment store); ``add_one_filing`` appends one real filing.
- **Pruned BM25** (views of ``LexicalPruning.exact_below`` rows or more): agreement of the top 10 with
  exhaustive BM25 scoring — BM25 scores, and the hybrid top 10 compared by original passage (the
  synthetic copies of one passage tie).
- **CLI**: a cold ``irqa ask`` (new process, index exists) three times each for an English and a
  Chinese question (``cold_ask``, ``cold_ask_zh``: median wall, the process's own peak RSS), a
  no-op re-ingest, and a served process's peak RSS after five asks.
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
        root = tmp / "index-warm"
        n = out["warm"]["passages"]
        segs = sorted(root.glob("seg-*"))
        gens = sorted(root.glob("gen-*"))
        out["index_bytes_per_passage"] = {
            part: sum(
                _dir_bytes(g / part) if (g / part).is_dir() else (g / part).stat().st_size for g in segs
            )
            / n
            for part in ("dense.faiss", "lexical", "docs.sqlite", "codes.npy", "dates.npy")
        } | {
            "manifest": sum(_dir_bytes(g) for g in gens) / n,
            "total": (_dir_bytes(root) - (root / "aliases.json").stat().st_size) / n,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def synthetic_snapshot(base_passages, base_vectors: np.ndarray, base_tokens, n: int, seed: int = 0):
    """``n`` passages: the real ones first, then noisy copies (see module doc), in memory."""
    from irqa.rag.store import Manifest, Snapshot

    passages, vectors, terms = synthetic_parts(base_passages, base_vectors, base_tokens, n, seed)
    manifest = Manifest(embedder="bench", dim=vectors.shape[1], passages=n)
    return Snapshot(manifest, {}, passages, vectors, terms)


def synthetic_parts(base_passages, base_vectors: np.ndarray, base_tokens, n: int, seed: int = 0):
    """(passages, vectors, term matrix) of the synthetic corpus of ``n`` passages."""
    from irqa.rag.lexical import TermMatrix

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
        else base_passages[i].model_copy(
            update={"id": f"{base_passages[i].id}~{j}", "filing_id": f"{base_passages[i].id}~{j}"}
        )
        for j, i in enumerate(idx)
    ]
    base_terms = base_tokens if isinstance(base_tokens, TermMatrix) else TermMatrix.build(base_tokens)
    return passages, vectors, base_terms.select(idx)


def write_store(root: Path, passages, vectors: np.ndarray, terms, kind: str = "auto"):
    """An on-disk local store holding one segment of these passages (as after ``irqa index compact``)."""
    from irqa.rag.store import LocalStore, Manifest
    from irqa.rag.store import segment as seg

    store = LocalStore(root)
    root.mkdir(parents=True, exist_ok=True)
    before = seg.ANN_THRESHOLD
    if kind == "flat":
        seg.ANN_THRESHOLD = 1 << 62
    try:
        manifest = Manifest(embedder="bench", dim=vectors.shape[1], family="bench")
        store._commit(1, manifest, {"seg-000001": (passages, vectors, terms, [])})
    finally:
        seg.ANN_THRESHOLD = before
    return store


def langchain_store(FAISS: Any, passages: Sequence[Any], vectors: np.ndarray, embeddings: Any) -> Any:
    """What ``FAISS.from_embeddings`` builds (IndexFlatL2 + in-memory docstore), filled from numpy."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_core.documents import Document

    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    ids = [str(i) for i in range(len(passages))]
    docstore = InMemoryDocstore(
        {
            i: Document(page_content=p.text, metadata={"doc_id": p.id})
            for i, p in zip(ids, passages, strict=True)
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


#: the CPU features that decide which kernels run (bf16 matmuls, int8 dot products, AVX-512)
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def machine() -> dict[str, Any]:
    """The CPU a figure is from and the kernels that ran on it: FAISS's dispatched SIMD level
    (faiss ≥ 1.15 reads ``FAISS_SIMD_LEVEL=AVX2`` to run an AVX2-only CPU's kernels; the older
    ``FAISS_OPT_LEVEL`` is ignored by its dynamic-dispatch build), OpenVINO's precision (in the
    embedder names: ``e5-openvino-bf16``; ``IRQA_EMBEDDER=e5:openvino-f32`` forces fp32)."""
    import os
    import platform

    import faiss

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "features": [f for f in CPU_FLAGS if f in flags],
        "faiss": faiss.get_compile_options().strip(),
        "faiss_simd": faiss.SIMDConfig.get_level_name() if hasattr(faiss, "SIMDConfig") else "",
    }


def run_bench(
    config: EngineConfig,
    embedder: Embedder,
    corpus: Path,
    *,
    sizes: Sequence[int] = (1000, 10_000, 100_000),
    n_queries: int = 50,
    n_ask: int = 20,
    n_recall: int = 200,
    query_embedder: Embedder | None = None,
    cli: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    import warnings

    from irqa.embeddings.cache import VectorCache
    from irqa.embeddings.memo import MemoQueries
    from irqa.eval.beir import load_beir
    from irqa.eval.langchain_baseline import make_embeddings
    from irqa.eval.runner import QueryVectorCache, beir_snapshot
    from irqa.rag.analysis import Analyzer
    from irqa.rag.answer import Answerer
    from irqa.rag.companies import Resolution
    from irqa.rag.retriever import Retriever
    from irqa.rag.store import LocalStore
    from irqa.rag.store import segment as seg

    qembedder = query_embedder or embedder  # search and LangChain embed every question
    figures: dict[str, Any] = {
        "method": __doc__,
        "embedder": embedder.name,
        "query_embedder": qembedder.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
    }
    figures["ingest"] = bench_ingest(config, embedder, log)
    if cli:
        figures["cli"] = bench_cli(config, log)

    cache = VectorCache(config.cache_dir / "vectors.sqlite")
    ds = load_beir(corpus)
    base, fresh = beir_snapshot(ds, embedder, cache, analyzer=Analyzer(config.dictionary))
    log(f"base corpus: {len(base.passages)} real passages ({fresh} freshly embedded)")
    queries = [ds.queries[q] for q in ds.queries][: max(n_queries, n_recall)]
    params = config.fusion
    qcache = QueryVectorCache(embedder, cache)
    qvecs = qcache.embed_queries(queries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS

    from irqa.rag.lexical import TermMatrix

    base_terms = TermMatrix.build(base.tokens)
    figures["sizes"] = {}
    usual = usual_embeddings(config)  # LangChain as usually written: torch, loaded once
    tmp = Path(tempfile.mkdtemp(prefix="irqa-bench-store-"))
    try:
        for n in sizes:
            t0 = time.perf_counter()
            passages, vectors, terms = synthetic_parts(base.passages, base.vectors, base_terms, n)
            root = tmp / f"store-{n}"
            t1 = time.perf_counter()
            write_store(root, passages, vectors, terms)
            rewrite_s = time.perf_counter() - t1
            build_s = time.perf_counter() - t0
            rss_before = _peak_rss_mb()
            t0 = time.perf_counter()
            view = LocalStore(root).load()
            open_ms = (time.perf_counter() - t0) * 1000
            r = Retriever(view, qembedder, params)
            qs = queries[:n_queries]
            t0 = time.perf_counter()
            r.search(qs[0], 10)
            first_ms = (time.perf_counter() - t0) * 1000
            search_ms = _time(lambda q, r=r: r.search(q, 10), qs)
            vec_of = dict(zip(queries, qvecs, strict=True))
            retrieval_ms = _time(lambda q, r=r, v=vec_of: r.search_vector(q, v[q][None, :], 10), qs)

            # ask as Engine does it: one query embedding per question, shared by retriever and
            # answerer (a fresh memo, so no question was embedded before it is timed)
            ask_q = MemoQueries(qembedder)
            answerer = Answerer(ask_q, view.analyzer, config.answer)
            r_ask = Retriever(view, ask_q, params)

            def ask(q: str, r: Retriever = r_ask, a: Any = answerer) -> None:
                hits = r.search(q, 10)
                a.answer(q, hits, Resolution())

            ask_ms = _time(ask, queries[:n_ask])
            # the default path: ingest embedded every quotable sentence into the vector cache
            # (``quote_vectors_at_ingest``), so answering reads them; a first untimed pass puts the
            # asked passages' sentences there, as ingest would have
            qcache = VectorCache(root / "quote-vectors.sqlite")
            warm = Answerer(ask_q, view.analyzer, config.answer, cache=qcache)
            for q in queries[:n_ask]:
                ask(q, a=warm)
            # timed as above: questions not embedded before, sentences not tokenized before
            fresh_q = MemoQueries(qembedder)
            fresh_an = Analyzer(view.analyzer.dictionary, view.analyzer.names)
            answerer_qv = Answerer(fresh_q, fresh_an, config.answer, cache=qcache)
            r_qv = Retriever(view, fresh_q, params)
            ask_qv_ms = _time(lambda q, r=r_qv, a=answerer_qv: ask(q, r, a), queries[:n_ask])
            qcache.close()
            lc = langchain_store(FAISS, passages, vectors, make_embeddings(qembedder, None))
            lc_ms = _time(lambda q, lc=lc: lc.similarity_search_with_score(q, k=10), qs)
            lc.embedding_function = usual
            lc_usual_ms = _time(lambda q, lc=lc: lc.similarity_search_with_score(q, k=10), qs)
            files = _bytes_by_part(root / "seg-000001", n)
            row = {
                "passages": n,
                "real_passages": min(n, len(base.passages)),
                "store_build_s": build_s,
                "full_rewrite_s": rewrite_s,
                "open_ms": open_ms,
                "first_search_ms": first_ms,
                "index_kind": view.segments[0].kind,
                "peak_rss_mb": _peak_rss_mb(),
                "peak_rss_before_mb": rss_before,
                "search": _pcts(search_ms),
                "search_without_query_embedding": _pcts(retrieval_ms),
                "ask": _pcts(ask_ms),
                "ask_quote_vectors": _pcts(ask_qv_ms),
                "langchain_search": _pcts(lc_ms),
                "langchain_vs_search_p50": float(np.median(lc_ms) / np.median(search_ms)),
                "langchain_usual_search": _pcts(lc_usual_ms),
                "langchain_usual_vs_search_p50": float(np.median(lc_usual_ms) / np.median(search_ms)),
                "bytes_per_passage": files,
            }
            log(
                f"{n:>7,} passages: open {open_ms:.1f} ms; search p50 {row['search']['p50_ms']:.1f} ms "
                f"(without query embedding {row['search_without_query_embedding']['p50_ms']:.1f}) p95 "
                f"{row['search']['p95_ms']:.1f}; ask p50 {row['ask_quote_vectors']['p50_ms']:.0f} ms "
                f"(embedding its quotes: {row['ask']['p50_ms']:.0f}); langchain p50 "
                f"{row['langchain_search']['p50_ms']:.1f} ms (HuggingFaceEmbeddings: "
                f"{row['langchain_usual_search']['p50_ms']:.1f}); {files['total']:,.0f} bytes/passage; "
                f"full rewrite {rewrite_s:.1f} s"
            )
            if n == max(sizes):
                row["ann_vs_exact"] = ann_vs_exact(
                    view, r, vectors, queries[:n_recall], qvecs[:n_recall], seg
                )
                row["pruned_bm25_vs_exhaustive"] = pruned_vs_exhaustive(
                    view, r, queries[:n_recall], qvecs[:n_recall]
                )
                row["add_one_filing"] = bench_add_filing(LocalStore(root), config, embedder, log)
            figures["sizes"][str(n)] = row
            del view, r, lc, passages, vectors, terms
            shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures["ann_threshold"] = seg.ANN_THRESHOLD
    figures["peak_rss_mb"] = _peak_rss_mb()
    return figures


def _bytes_by_part(folder: Path, n: int) -> dict[str, float]:
    parts = {
        "vectors (fp16 FAISS)": folder / "dense.faiss",
        "bm25 (term matrix + vocabulary)": folder / "lexical",
        "passages (SQLite)": folder / "docs.sqlite",
    }
    out = {k: (_dir_bytes(v) if v.is_dir() else v.stat().st_size) / n for k, v in parts.items()}
    out["total"] = _dir_bytes(folder.parent) / n
    return out


def ann_vs_exact(view: Any, r: Any, vectors: np.ndarray, queries: Sequence[str], qvecs: np.ndarray, seg: Any):
    """Dense recall@10 of the store's index vs exact float32 search, and hybrid top-10 agreement
    of the store against the same passages searched exactly (flat), at several nprobe values."""
    exact = np.argsort(-(qvecs @ vectors.T), axis=1)[:, :10]
    out: dict[str, Any] = {"queries": len(queries), "kind": view.segments[0].kind}
    index = view.segments[0].index
    probes = [getattr(index, "nprobe", 0)]
    if out["kind"] == "ivf":
        probes = [16, 32, 48, 64, 96]
    for nprobe in probes:
        if nprobe:
            index.nprobe = nprobe
        lat, rec = [], []
        for q, e in zip(qvecs, exact, strict=True):
            t0 = time.perf_counter()
            rows, _ = view.dense(q[None, :], 100, None)
            lat.append((time.perf_counter() - t0) * 1000)
            rec.append(len(set(rows[:10].tolist()) & set(e.tolist())) / 10)
        out[f"nprobe={nprobe}"] = {"dense_recall@10_vs_exact": float(np.mean(rec)), **_pcts(lat)}
    if nprobe:
        index.nprobe = seg.NPROBE
    return out


def usual_embeddings(config: EngineConfig) -> Any:
    """The embedding a plain LangChain script uses: ``HuggingFaceEmbeddings`` (sentence-transformers
    in torch) over the same converted e5 folder, with e5's query prompt."""
    import warnings

    from irqa.embeddings.e5_export import PROMPTS, export_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.embeddings import HuggingFaceEmbeddings

        return HuggingFaceEmbeddings(
            model_name=str(export_model(cache_dir=config.cache_dir)),
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True, "prompt": PROMPTS["query"]},
        )


def pruned_vs_exhaustive(view: Any, r: Any, queries: Sequence[str], qvecs: np.ndarray) -> dict[str, Any]:
    """Top-10 agreement of the pruned BM25 of big views with exhaustive scoring (module doc)."""
    pruning = view.pruning
    if view.slots < pruning.exact_below:
        return {"pruned": False}

    def original(pid: str) -> str:  # the synthetic copies of one passage tie
        return pid.split("~")[0]

    def top10(q: str, v: np.ndarray) -> tuple[np.ndarray, set[str]]:
        bm25 = view.lexical(view.analyzer.tokenize(q), 10, None).scores
        return bm25, {original(h.passage.id) for h in r.search_vector(q, v[None, :], 10)}

    view.pruning = replace(pruning, exact_below=1 << 62)  # every row scored
    try:
        exhaustive = {q: top10(q, v) for q, v in zip(queries, qvecs, strict=True)}
    finally:
        view.pruning = pruning
    bm25, hybrid, lat = [], [], []
    for q, v in zip(queries, qvecs, strict=True):
        t0 = time.perf_counter()
        view.lexical(view.analyzer.tokenize(q), 10, None)
        lat.append((time.perf_counter() - t0) * 1000)
        got, found = top10(q, v)
        want, wanted = exhaustive[q]
        bm25.append(float(np.mean(np.isclose(np.sort(got), np.sort(want), rtol=1e-5))) if len(want) else 1.0)
        hybrid.append(len(found & wanted) / max(1, len(wanted)))
    return {
        "pruned": True,
        "queries": len(queries),
        "common_df": pruning.common_df,
        "pool": pruning.pool,
        "bm25_top10_score_agreement": float(np.mean(bm25)),
        "hybrid_top10_agreement": float(np.mean(hybrid)),
        "pruned_bm25": _pcts(lat),
    }


def bench_add_filing(store: Any, config: EngineConfig, embedder: Embedder, log: Log) -> dict[str, Any]:
    """Add one real sample filing (~30 passages, vectors from the cache) to the big ``store``."""
    from irqa.embeddings.cache import VectorCache, embed_with_cache
    from irqa.rag.engine import sample_dir
    from irqa.rag.ingest.chunk import chunk_filing
    from irqa.rag.ingest.pipeline import parse_file
    from irqa.rag.store import Upsert

    f = parse_file(sample_dir() / "688775_insta360_2025-003.txt")
    ps = chunk_filing(f, max_tokens=config.chunk_tokens, overlap_tokens=config.chunk_overlap_tokens)
    texts = [p.embed_text() for p in ps]
    analyzer = store.load().analyzer.with_names([f.company])
    vecs, _ = embed_with_cache(embedder, texts, VectorCache(config.cache_dir / "vectors.sqlite"))
    t0 = time.perf_counter()
    with store.lock():
        view = store.write(
            embedder="bench",
            dim=vecs.shape[1],
            family="bench",
            upserts=[Upsert(f, ps, vecs, [analyzer.tokenize(t) for t in texts])],
        )
    secs = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.load()
    reopen_ms = (time.perf_counter() - t0) * 1000
    log(
        f"add one {len(ps)}-passage filing to {len(view) - len(ps):,} passages: {secs:.2f} s; reopen {reopen_ms:.0f} ms"
    )
    return {
        "passages": len(ps),
        "seconds": secs,
        "reopen_ms": reopen_ms,
        "segments_after": len(getattr(view, "segments", [])) or None,  # local store only
    }


def bench_cli(config: EngineConfig, log: Log) -> dict[str, Any]:
    """Cold ``irqa ask`` (new process, index exists) wall and peak RSS, a no-op re-ingest, and the
    server's RSS after one ask — each a real subprocess, RSS from ``/usr/bin/time``-style rusage."""
    import os
    import subprocess
    import sys
    import urllib.request

    from irqa.rag.engine import sample_dir

    out: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="irqa-bench-cli-"))
    env = {**os.environ, "IRQA_INDEX": str(tmp / "index"), "IRQA_CACHE_DIR": str(config.cache_dir)}
    exe = [sys.executable, "-m", "irqa"]

    def run(args: list[str]) -> tuple[float, float]:
        """Wall seconds and the process's own peak RSS in MB. ``/usr/bin/time`` starts it from a
        small process: a child forked from this (large) one inherits its high-water mark."""
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "maxrss_kb=%M", *exe, *args], env=env, capture_output=True, text=True
        )
        if proc.returncode:
            raise RuntimeError(f"irqa {' '.join(args)} exited {proc.returncode}: {proc.stderr[-300:]}")
        kb = int(proc.stderr.rsplit("maxrss_kb=", 1)[1].split()[0])
        return time.perf_counter() - t0, kb / 1024

    try:
        run(["ingest", str(sample_dir())])
        # an English question, and a Chinese one (its key terms need jieba's part-of-speech tagger)
        for key, question in (
            ("cold_ask", "what did 虹软 say about Turbo Fusion video power draw"),
            ("cold_ask_zh", "虹软的Turbo Fusion视频功耗怎么样？"),
        ):
            walls, rsss = [], []
            for _ in range(3):
                w, m = run(["ask", question])
                walls.append(w)
                rsss.append(m)
            out[key] = {
                "question": question,
                "wall_s_median": float(np.median(walls)),
                "walls_s": walls,
                "peak_rss_mb": max(rsss),
            }
        w, _ = run(["ingest", str(sample_dir())])
        out["noop_reingest_wall_s"] = w
        port = 8800 + os.getpid() % 100
        proc = subprocess.Popen(
            [*exe, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 180
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/ask",
                data=json.dumps({"question": "海康威视 创新业务"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            for _ in range(5):
                urllib.request.urlopen(req, timeout=60).read()
            status = Path(f"/proc/{proc.pid}/status").read_text()
            hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
            out["server_peak_rss_mb"] = int(hwm.split()[1]) / 1024
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    except Exception as e:  # report what could not be measured instead of losing the run
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"cli: {out}")
    return out


def write_bench(figures: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def print_bench(figures: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    m = figures.get("machine", {})
    console.print(
        f"[bold]Machine[/]: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"features {' '.join(m.get('features', [])) or 'none of ' + ' '.join(CPU_FLAGS)}; "
        f"FAISS kernels {m.get('faiss_simd') or m.get('faiss', '?')}; "
        f"embedders {figures.get('embedder')} / queries {figures.get('query_embedder')}",
        highlight=False,
    )
    ing = figures["ingest"]
    console.print(
        f"[bold]Ingest[/] (sample filings, real pipeline): cold cache {ing['cold']['passages_per_s']:.1f} "
        f"passages/s ({ing['cold']['embedded']} embedded), warm cache {ing['warm']['passages_per_s']:.1f} "
        f"passages/s; index {ing['index_bytes_per_passage']['total']:,.0f} bytes/passage",
        highlight=False,
    )
    cli = figures.get("cli", {})
    if "cold_ask" in cli:
        console.print(
            f"[bold]CLI[/]: cold irqa ask {cli['cold_ask']['wall_s_median']:.2f} s wall, "
            f"{cli['cold_ask']['peak_rss_mb']:.0f} MB peak RSS (a Chinese question: "
            f"{cli['cold_ask_zh']['wall_s_median']:.2f} s, {cli['cold_ask_zh']['peak_rss_mb']:.0f} MB); "
            f"no-op re-ingest {cli['noop_reingest_wall_s']:.2f} s; "
            f"server peak RSS {cli.get('server_peak_rss_mb', float('nan')):.0f} MB",
            highlight=False,
        )
    t = Table(title="Latency per query (ms), on-disk stores from real FinTruthQA vectors")
    for col in (
        "passages",
        "open ms",
        "search p50",
        "p95",
        "w/o query emb. p50",
        "ask p50",
        "p95",
        "LangChain p50",
        "LC/search",
        "LangChain+HF p50",
        "LC+HF/search",
        "bytes/passage",
        "peak RSS MB",
    ):
        t.add_column(col, justify="right")
    for n, row in figures["sizes"].items():
        t.add_row(
            f"{int(n):,}",
            f"{row['open_ms']:.1f}",
            f"{row['search']['p50_ms']:.1f}",
            f"{row['search']['p95_ms']:.1f}",
            f"{row['search_without_query_embedding']['p50_ms']:.1f}",
            f"{row['ask']['p50_ms']:.0f}",
            f"{row['ask']['p95_ms']:.0f}",
            f"{row['langchain_search']['p50_ms']:.1f}",
            f"{row['langchain_vs_search_p50']:.2f}×",
            f"{row['langchain_usual_search']['p50_ms']:.1f}",
            f"{row['langchain_usual_vs_search_p50']:.2f}×",
            f"{row['bytes_per_passage']['total']:,.0f}",
            f"{row['peak_rss_mb']:.0f}",
        )
    console.print(t)
    for n, row in figures["sizes"].items():
        if "ann_vs_exact" in row:
            console.print(f"[bold]ANN at {int(n):,}[/]: {json.dumps(row['ann_vs_exact'])}", highlight=False)
        if row.get("pruned_bm25_vs_exhaustive", {}).get("pruned"):
            console.print(
                f"[bold]Pruned BM25 at {int(n):,}[/]: {json.dumps(row['pruned_bm25_vs_exhaustive'])}",
                highlight=False,
            )
        if "add_one_filing" in row:
            console.print(
                f"[bold]Add one filing at {int(n):,}[/]: {json.dumps(row['add_one_filing'])}", highlight=False
            )
    console.print("[dim]How each figure was made: see 'method' in the JSON (eval/bench.py docstring).[/]")
