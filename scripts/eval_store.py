"""FinTruthQA dev MRR@10 of irqa's hybrid retrieval over a store backend vs the local store.

Bulk-builds the BEIR corpus (one passage per document, vectors through the vector cache) into
the store named by ``--store`` (e.g. ``milvus-lite:/tmp/ftqa.db`` or ``milvus://127.0.0.1:19530/ftqa``)
in one write, then scores the same queries through the same ``Retriever`` over that store and over
the in-memory local view, and prints both and their difference as JSON.

    python scripts/eval_store.py --corpus ../shared/corpus/fintruthqa --store milvus-lite:/tmp/ftqa.db
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from irqa.runtime import prepare_process


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--cache-dir", type=Path, default=Path("build/ftqa-cache"))
    ap.add_argument("--embedder", default="e5")
    ap.add_argument("--max-queries", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    prepare_process(args.cache_dir)

    from irqa.embeddings.cache import VectorCache
    from irqa.embeddings.factory import load_embedder
    from irqa.eval.beir import load_beir
    from irqa.eval.runner import QueryVectorCache, beir_snapshot, run_beir
    from irqa.rag.models import Filing, FilingHeader
    from irqa.rag.store import Upsert, open_store

    cache = VectorCache(args.cache_dir / "vectors.sqlite")
    inner = load_embedder(args.embedder, cache_dir=args.cache_dir)
    embedder = QueryVectorCache(inner, cache)  # both runs embed each query once
    ds = load_beir(args.corpus, "test")
    local, _ = beir_snapshot(ds, embedder, cache)
    passages, vectors = list(local.passages), local.vectors
    upserts = [
        Upsert(
            Filing(id=p.id, source=p.id, content_hash=p.id, header=FilingHeader(), text=p.text),
            [p],
            vectors[i : i + 1],
            [local.analyzer.tokenize(p.embed_text())],
        )
        for i, p in enumerate(passages)
    ]
    store = open_store(args.store)
    t0 = time.perf_counter()
    with store.lock():
        view = store.write(
            embedder=inner.name, dim=inner.dim, family=inner.family, upserts=upserts, rebuild=True
        )
    build_s = time.perf_counter() - t0
    out: dict = {"store": args.store, "passages": len(passages), "build_seconds": round(build_s, 1)}
    for name, snap in (("local", local), ("backend", view)):
        t0 = time.perf_counter()
        results, _ = run_beir(ds, embedder, None, ["hybrid"], snapshot=snap, max_queries=args.max_queries)
        system = results.systems[0]
        out[name] = {
            "mrr@10": system.metrics["mrr@10"],
            "ndcg@10": system.metrics.get("ndcg@10"),
            "recall@10": system.metrics.get("recall@10"),
            "queries": results.meta["queries"],
            "latency_ms_p50": system.metrics.get("latency_ms_p50"),
            "latency_ms_p95": system.metrics.get("latency_ms_p95"),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    out["mrr@10_difference"] = round(out["backend"]["mrr@10"] - out["local"]["mrr@10"], 4)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if abs(out["mrr@10_difference"]) <= 0.01 else 1)


if __name__ == "__main__":
    main()
