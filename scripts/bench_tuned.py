"""Untuned vs tuned e5 on FinTruthQA's two halves and the sample dev set, in one run (issue 12).

FinTruthQA dev queries are split in file order: the first 500 judged queries are the *tune*
half (the tuned default trained on them, and the fusion weight is chosen on them), the other
500 the *confirm* half (reported, never used to choose). For every model: BM25, dense, hybrid at
each dense weight on the tune half; then BM25, dense, LangChain and hybrid at the chosen weight
on the confirm half; then the sample dev set (hybrid and dense through ``Engine.search``) per
language. Document vectors go through the vector cache (``$IRQA_CACHE_DIR``), query vectors too
(model ``<name>#query``), so a rerun only pays for what changed.

    OMP_WAIT_POLICY=PASSIVE python scripts/bench_tuned.py --models e5,e5:tuned \\
        --weights 0.5,0.6,0.7,0.8,0.9 --out bench-results/tuned.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

from irqa.runtime import prepare_process
from irqa.settings import Settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
prepare_process(Settings().cache_dir, Settings().threads)  # before torch/tiktoken/jieba load

warnings.simplefilter("ignore", DeprecationWarning)

from irqa.embeddings.cache import VectorCache  # noqa: E402
from irqa.embeddings.factory import load_embedder  # noqa: E402
from irqa.eval.beir import load_beir  # noqa: E402
from irqa.eval.questions import SystemOutput, evaluate_questions  # noqa: E402
from irqa.eval.relevance import load_questions  # noqa: E402
from irqa.eval.runner import QueryVectorCache, beir_snapshot, run_beir  # noqa: E402
from irqa.rag.retriever import FusionParams  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("mrr@10", "recall@1", "recall@5", "recall@10", "recall@100", "ndcg@10")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def beir_rows(ds, emb, cache, snap, halves, weights, with_langchain):
    rows = {}
    best_w, best = None, -1.0
    for w in weights:
        p = FusionParams(dense_weight=w, lexical_weight=round(1 - w, 6))
        res, _ = run_beir(ds, emb, cache, ["hybrid"], params=p, query_ids=halves["tune"], snapshot=snap)
        m = res.systems[0].metrics
        rows[f"tune hybrid {w:.2f}/{1 - w:.2f}"] = {k: m[k] for k in KEYS}
        log(f"  tune hybrid {w:.2f}: MRR@10 {m['mrr@10']:.4f}")
        if m["mrr@10"] > best + 1e-9:
            best_w, best = w, m["mrr@10"]
    params = FusionParams(dense_weight=best_w, lexical_weight=round(1 - best_w, 6))
    systems = ["lexical", "dense", "hybrid"] + (["langchain"] if with_langchain else [])
    for half in ("tune", "confirm"):
        res, _ = run_beir(ds, emb, cache, systems, params=params, query_ids=halves[half], snapshot=snap)
        for s in res.systems:
            rows[f"{half} {s.name}"] = {k: s.metrics[k] for k in KEYS}
            log(f"  {half} {s.name}: MRR@10 {s.metrics['mrr@10']:.4f} R@10 {s.metrics['recall@10']:.4f}")
    return rows, best_w


def sample_rows(emb, weight, cache_dir: Path, questions) -> dict:
    from irqa.rag.engine import Engine, EngineConfig

    work = Path(tempfile.mkdtemp(prefix="irqa-tuned-"))
    fusion = FusionParams(dense_weight=weight, lexical_weight=round(1 - weight, 6))
    engine = Engine(EngineConfig(index=work / "index", cache_dir=cache_dir, fusion=fusion), emb)
    engine.ensure_index()
    rows = {}
    for mode in ("hybrid", "dense"):
        outs = [
            SystemOutput.from_ranked(
                [
                    (h.passage.text, h.passage.code, h.passage.id)
                    for h in engine.search(q.question, 10, mode=mode)
                ]
            )
            for q in questions
        ]
        for lang in ("all", "zh", "en", "mixed"):
            idx = [i for i, q in enumerate(questions) if lang == "all" or q.lang == lang]
            m = evaluate_questions(mode, [questions[i] for i in idx], [outs[i] for i in idx])[0].metrics
            rows[f"sample {mode} {lang}"] = {k: m[k] for k in ("hit@1", "hit@5", "mrr@10")} | {"n": len(idx)}
            log(f"  sample {mode} {lang}: hit@5 {m['hit@5']:.3f} MRR@10 {m['mrr@10']:.4f} (n={len(idx)})")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", default=str(ROOT.parent / "shared" / "corpus" / "fintruthqa"))
    ap.add_argument("--questions", default=str(ROOT / "eval" / "data" / "sample_dev.jsonl"))
    ap.add_argument("--models", default="e5,e5:tuned", help="embedder specs, comma separated")
    ap.add_argument("--weights", default="0.5,0.6,0.7,0.8,0.9", help="dense weights tried on the tune half")
    ap.add_argument("--langchain", default="e5", help="run the LangChain baseline with these models")
    ap.add_argument("--split-at", type=int, default=500, help="judged queries in the tune half")
    ap.add_argument(
        "--corpus-limit",
        type=int,
        default=0,
        help="keep only the judged answers + the first N others (cheap A/B of two close models)",
    )
    ap.add_argument("--no-sample", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    s = Settings()
    cache = VectorCache(s.cache_dir / "vectors.sqlite")
    ds = load_beir(args.beir)
    if args.corpus_limit:
        judged = {d for docs in ds.qrels.values() for d in docs}
        others = [d for d in ds.corpus if d not in judged][: args.corpus_limit]
        keep = judged | set(others)
        ds = replace(ds, corpus={d: v for d, v in ds.corpus.items() if d in keep})
    qids = [q for q in ds.queries if q in ds.qrels]
    halves = {"tune": qids[: args.split_at], "confirm": qids[args.split_at :]}
    weights = [float(w) for w in args.weights.split(",")]
    questions = load_questions(args.questions)
    results = {}
    for spec in args.models.split(","):
        t0 = time.perf_counter()
        inner = load_embedder(spec, threads=s.threads, cache_dir=s.cache_dir)
        log(f"{spec}: {inner.name} (family {inner.family}); embedding the corpus through the cache")
        snap, fresh = beir_snapshot(ds, inner, cache)
        log(f"{spec}: corpus ready ({fresh} embedded now)")
        emb = QueryVectorCache(inner, cache)
        rows, w = beir_rows(ds, emb, cache, snap, halves, weights, spec in args.langchain.split(","))
        if not args.no_sample:
            rows |= sample_rows(inner, w, s.cache_dir, questions)
        results[spec] = {"embedder": inner.name, "family": inner.family, "dense_weight": w, "rows": rows}
        results[spec]["seconds"] = round(time.perf_counter() - t0, 1)
        if args.out:  # after every model: a long run leaves what it finished
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
