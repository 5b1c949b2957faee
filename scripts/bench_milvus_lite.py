"""Milvus Lite as a reference for ``irqa bench``'s local-store figures, on the same synthetic corpus.

Builds the corpus ``irqa bench`` uses (the real FinTruthQA passages and vectors, then noisy copies:
``eval.bench.synthetic_parts``) into a Milvus Lite file in batches, then measures what the local
store's benchmark measures: build time, open time, search p50/p95 through irqa's ``Retriever``
(same fusion; with and without the query embedding), adding one real 27-passage filing, bytes per
passage on disk and the process's peak RSS. Prints and writes JSON.

    python scripts/bench_milvus_lite.py --size 100000 --json bench-results/milvus-lite-100k.json

Milvus Lite ingests ~135 passages/s here (BM25 and the jieba analyzer run inside it), so 1M
passages would take ~2 hours: measure 100k, and read the local store's 1M figures beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from irqa.runtime import prepare_process


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus/fintruthqa"))
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--batch", type=int, default=5000, help="Passages per store write.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from irqa.settings import Settings

    s = Settings()
    prepare_process(s.cache_dir, s.threads)

    from irqa.embeddings.cache import VectorCache
    from irqa.eval.beir import load_beir
    from irqa.eval.bench import _pcts, _peak_rss_mb, _time, bench_add_filing, synthetic_parts
    from irqa.eval.runner import beir_snapshot
    from irqa.rag.lexical import TermMatrix
    from irqa.rag.models import Filing, FilingHeader
    from irqa.rag.retriever import Retriever
    from irqa.rag.store import Upsert, open_store

    from irqa.wiring import embedder_factory, engine_config, query_embedder_factory

    config = engine_config(s)
    embedder = embedder_factory(s)()
    qembedder = query_embedder_factory(s, resident=True)()
    ds = load_beir(args.corpus)
    base, _ = beir_snapshot(ds, embedder, VectorCache(config.cache_dir / "vectors.sqlite"))
    passages, vectors, terms = synthetic_parts(
        base.passages, base.vectors, TermMatrix.build(base.tokens), args.size
    )
    tokens = [base.tokens[i % len(base.passages)] for i in range(args.size)]
    del terms
    tmp = Path(tempfile.mkdtemp(prefix="irqa-milvus-lite-"))
    db = tmp / "bench.db"
    store = open_store(f"milvus-lite:{db}")
    t0 = time.perf_counter()
    for at in range(0, args.size, args.batch):
        upserts = [
            Upsert(
                Filing(id=p.filing_id, source=p.id, content_hash=p.id, header=FilingHeader(), text=p.text),
                [p],
                vectors[i : i + 1],
                [tokens[i]],
            )
            for i, p in enumerate(passages[at : at + args.batch], start=at)
        ]
        with store.lock():
            store.write(embedder="bench", dim=vectors.shape[1], family="bench", upserts=upserts)
        print(
            f"{min(at + args.batch, args.size):,} passages written, {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    view = store.load()
    open_ms = (time.perf_counter() - t0) * 1000
    queries = [ds.queries[q] for q in ds.queries][: args.queries]
    qvecs = dict(zip(queries, qembedder.embed_queries(queries), strict=True))
    r = Retriever(view, qembedder, config.fusion)
    search_ms = _time(lambda q: r.search(q, 10), queries)
    retrieval_ms = _time(lambda q: r.search_vector(q, qvecs[q][None, :], 10), queries)
    figures = {
        "store": "milvus-lite",
        "passages": args.size,
        "build_s": build_s,
        "build_passages_per_s": args.size / build_s,
        "open_ms": open_ms,
        "search": _pcts(search_ms),
        "search_without_query_embedding": _pcts(retrieval_ms),
        "bytes_per_passage": sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / args.size,
        "peak_rss_mb": _peak_rss_mb(),
        "method": __doc__,
    }
    figures["add_one_filing"] = bench_add_filing(store, config, embedder, print)
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
