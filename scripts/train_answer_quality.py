"""Train the answer-quality rater and measure it by five-fold cross-validation against TF-IDF + LR.

    python scripts/train_answer_quality.py [../shared/corpus/fintruthqa/answer_quality.jsonl] \\
        --report bench-results/answer_quality.json --out eval/data/answer_quality.json

1. Every question (a query) and answer (a passage) is embedded once by irqa's configured model;
   vectors go to the vector cache in irqa's cache folder, so a rerun embeds nothing.
2. Five stratified folds (seed 0): each fold is rated by a model fitted on the other four — ours
   (``irqa.eval.answer_quality``: embeddings + lengths + overlap + cue features, multinomial LR)
   for each ``--c``, and the baseline (TF-IDF character 1–3-grams of question and of answer, LR).
   The regularization is chosen by the mean micro-F1 over the same folds (reported for every C).
3. Ablations (same folds, each at its best C): scalars only, without the cues, embeddings only, without the
   question vector, and with the vectors' product and difference added.
4. Speed: ms per pair on 200 pairs, ours from raw text (embedding included, no cache) and with
   vectors known; the baseline's vectorize + predict.
5. The model fitted on every row is written to ``--out`` with the figures in its ``meta``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from irqa.runtime import prepare_process
from irqa.settings import Settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
prepare_process(Settings().cache_dir, Settings().threads)

import numpy as np  # noqa: E402
from irqa.embeddings.cache import VectorCache  # noqa: E402
from irqa.eval import answer_quality as aq  # noqa: E402
from irqa.rag.analysis import Analyzer  # noqa: E402

from irqa.wiring import embedder_factory, engine_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "corpus" / "fintruthqa" / "answer_quality.jsonl"
SCALAR_COLS = len(aq.SCALARS)
CUE_COLS = [aq.SCALARS.index(name) for name, _, _ in aq.CUES]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cv_ours(x: np.ndarray, y: np.ndarray, splits, c: float) -> tuple[dict, list[int]]:
    pred = np.zeros(len(y), int)
    for train, test in splits:
        pred[test] = aq.fit(x[train], y[train], c=c).rate(x[test])
    return aq.scores(y.tolist(), pred.tolist()), pred.tolist()


def cv_baseline(cols: np.ndarray, y: np.ndarray, splits) -> tuple[dict, list[int]]:
    pred = np.zeros(len(y), int)
    for train, test in splits:
        pipe = aq.tfidf_baseline().fit(cols[train], y[train])
        pred[test] = pipe.predict(cols[test])
    return aq.scores(y.tolist(), pred.tolist()), pred.tolist()


def fold_spread(y: np.ndarray, pred: list[int], splits) -> dict[str, float]:
    """Mean and standard deviation of micro-F1 over the folds."""
    p = np.asarray(pred)
    micro = [float((p[t] == y[t]).mean()) for _, t in splits]
    return {"micro_f1_mean": float(np.mean(micro)), "micro_f1_std": float(np.std(micro))}


def brief(s: dict) -> dict:
    return {k: round(s[k], 4) for k in ("micro_f1", "macro_f1", "not_answer_f1")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--report", type=Path, default=ROOT / "bench-results" / "answer_quality.json")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "data" / "answer_quality.json")
    ap.add_argument("--c", default="0.0006,0.001,0.0015,0.003", help="LR regularization values to try")
    ap.add_argument("--ablation-c", default="0.001,0.003,0.01,0.1", help="C values for each ablation")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-save", action="store_true", help="Measure only; leave --out alone.")
    args = ap.parse_args()

    s = Settings()
    pairs = aq.load_pairs(args.data)
    y = np.array([p.relevance for p in pairs])
    if (y == None).any():  # noqa: E711
        raise SystemExit(f"{args.data}: every row needs a relevance label to train on")
    y = y.astype(int)
    log(f"{len(pairs)} pairs; ratings {dict(zip(*np.unique(y, return_counts=True), strict=True))}")

    embedder = embedder_factory(s)()
    cache = VectorCache(s.cache_dir / "vectors.sqlite")
    analyzer = Analyzer(engine_config(s).dictionary)
    t0 = time.perf_counter()
    qv, av = aq.pair_vectors(pairs, embedder, cache)
    log(f"vectors ready in {time.perf_counter() - t0:.1f} s ({embedder.name})")
    t0 = time.perf_counter()
    x = aq.featurize(pairs, qv, av, analyzer)
    log(f"features {x.shape} in {time.perf_counter() - t0:.1f} s")

    splits = aq.folds(y.tolist(), args.folds, args.seed)
    cols = aq.text_columns(pairs)
    t0 = time.perf_counter()
    base, base_pred = cv_baseline(cols, y, splits)
    log(f"baseline TF-IDF+LR: {brief(base)} ({time.perf_counter() - t0:.0f} s)")

    sweep: dict[str, dict] = {}
    best_c, best, best_pred = None, None, None
    for c in (float(v) for v in args.c.split(",")):
        t0 = time.perf_counter()
        sc, pred = cv_ours(x, y, splits, c)
        sweep[str(c)] = brief(sc)
        log(f"ours C={c}: {brief(sc)} ({time.perf_counter() - t0:.0f} s)")
        if best is None or sc["micro_f1"] > best["micro_f1"]:
            best_c, best, best_pred = c, sc, pred
    assert best is not None and best_c is not None and best_pred is not None

    ablation: dict[str, dict] = {}
    scalars = x[:, :SCALAR_COLS]
    no_cues = np.delete(scalars, CUE_COLS, axis=1)
    for name, sub in (
        ("scalars only (no embeddings)", scalars),
        ("no cues", np.hstack([no_cues, qv, av])),
        ("embeddings only (no scalars)", np.hstack([qv, av])),
        ("answer vector only, no question vector", np.hstack([scalars, av])),
        ("+ q*a and |q-a|", np.hstack([x, qv * av, np.abs(qv - av)])),
    ):
        best_here = None
        for c in (float(v) for v in args.ablation_c.split(",")):  # each variant at its own best C
            pred = np.zeros(len(y), int)
            for train, test in splits:
                model = aq.fit(sub[train], y[train], c=c)
                pred[test] = np.asarray(model.classes)[model.probabilities(sub[test]).argmax(axis=1)]
            sc = {**brief(aq.scores(y.tolist(), pred.tolist())), "c": c}
            if best_here is None or sc["micro_f1"] > best_here["micro_f1"]:
                best_here = sc
        ablation[name] = best_here
        log(f"ablation {name}: {ablation[name]}")

    # speed: 200 pairs, ours from raw text (no cache) and with vectors known; the baseline
    final = aq.fit(
        x,
        y,
        c=best_c,
        embedder=embedder,
        trained_keys=frozenset(aq.pair_key(p) for p in pairs),
    )
    sample = pairs[:200]
    t0 = time.perf_counter()
    aq.rate_pairs(sample, embedder, None, analyzer, final)
    ms_cold = (time.perf_counter() - t0) * 1000 / len(sample)
    t0 = time.perf_counter()
    final.rate(aq.featurize(sample, qv[:200], av[:200], analyzer))
    ms_warm = (time.perf_counter() - t0) * 1000 / len(sample)
    pipe = aq.tfidf_baseline().fit(cols, y)
    t0 = time.perf_counter()
    pipe.predict(aq.text_columns(sample))
    ms_base = (time.perf_counter() - t0) * 1000 / len(sample)
    log(
        f"ms per pair: ours {ms_cold:.1f} (embedding included) / {ms_warm:.2f} (vectors known); baseline {ms_base:.2f}"
    )

    ours = {
        **best,
        **fold_spread(y, best_pred, splits),
        "c": best_c,
        "ms_per_pair": round(ms_cold, 2),
        "ms_per_pair_vectors_known": round(ms_warm, 3),
    }
    report = {
        "kind": "answer_quality",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": str(args.data),
        "n": len(pairs),
        "ratings": {str(k): v for k, v in aq.RATINGS.items()},
        "cv": {"folds": args.folds, "seed": args.seed, "stratified": True},
        "embedder": embedder.name,
        "baseline_tfidf_lr": {**base, **fold_spread(y, base_pred, splits), "ms_per_pair": round(ms_base, 3)},
        "ours": ours,
        "c_sweep": sweep,
        "ablation": ablation,
        "paper_anchors_micro_f1": {"tfidf_lr": 0.70, "chinese_bert": 0.78, "finbert": 0.80},
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
    log(f"wrote {args.report}")
    if not args.no_save:
        meta = {
            "trained_on": f"{args.data.name} ({len(pairs)} FinTruthQA pairs)",
            "created": report["created"],
            "embedder": embedder.name,
            "c": best_c,
            "cv": {"folds": args.folds, "seed": args.seed, "ours": brief(best), "baseline": brief(base)},
        }
        final = aq.AnswerQualityModel(**{**final.__dict__, "meta": meta})
        final.save(args.out)
        log(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
