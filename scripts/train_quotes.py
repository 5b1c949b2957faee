"""Learn the quote weights on the real records' self-QA and measure them leave-one-company-out.

    python scripts/train_quotes.py ../shared/corpus/real_filings \\
        --pools bench-results/quotes/pools.jsonl --report bench-results/quotes/report.json \\
        --out rag/data/quote_weights.json

1. The records go into a throwaway index; every answerable self-QA case is asked with every
   candidate unit embedded (``embed_units=0``), the pools written to ``--pools`` (``--reuse``
   reads them back: a pool does not depend on the weights).
2. For each company, weights learned on the other eight choose its quotes (the answerer's choice
   replayed with ``embed_units`` = the default): the share whose first quote lies in the own
   answer, beside the hand weights on the same pools, per language and company.
3. The weights learned on every company are written to ``--out`` with those figures.
(``irqa.eval.quote_training`` has the learner and the replay.)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# first: it prepares the process (threads, caches) before torch or jieba load
_trainer = importlib.import_module("train_answerability")
selfqa_engine = _trainer.selfqa_engine

from irqa.eval import quote_training as qt  # noqa: E402
from irqa.rag.answer import AnswerParams  # noqa: E402
from irqa.rag.quote_scoring import QUOTE_FEATURES, QuoteWeights  # noqa: E402


def collect(records: list[Path]) -> list[qt.Pool]:
    from irqa.eval.selfqa import TRANSLATIONS, load_translations, run_selfqa

    with tempfile.TemporaryDirectory(prefix="irqa-quotes-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        engine = selfqa_engine(Path(tmp), "real", answer=AnswerParams(embed_units=0), quote_weights="hand")
        engine.ingest_paths(records)
        asked: list = []
        run_selfqa(engine, load_translations(TRANSLATIONS), on_asked=asked.append)
    return qt.pools_from_selfqa(asked)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", type=Path)
    ap.add_argument("--pools", type=Path, default=Path("bench-results/quotes/pools.jsonl"))
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--l2", type=float, default=0.01, help="L2 strength on the standardized feature weights")
    ap.add_argument("--embed-units", type=int, default=AnswerParams().embed_units)
    ap.add_argument("--report", type=Path, default=Path("bench-results/quotes/report.json"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    if args.reuse:
        pools = qt.read_pools(args.pools)
    else:
        if not args.records:
            ap.error("give the real records (or --reuse)")
        pools = collect(args.records)
        qt.write_pools(pools, args.pools)
    print(
        f"{len(pools)} answerable cases; {sum(any(p.gold) for p in pools)} with a candidate in the own answer"
    )

    hand = QuoteWeights.hand()
    hand_chosen = {p.qid: qt.choose(p, hand.weights, args.embed_units) for p in pools}
    loco, models = qt.leave_one_company_out(pools, args.l2, args.embed_units)
    report: dict = {"l2": args.l2, "embed_units": args.embed_units, "slices": {}}
    ceiling = {p.qid: (p.gold.index(True) if any(p.gold) else None) for p in pools}
    for key in ("lang", "group"):
        h, learned, top = (qt.rates_by(pools, c, key) for c in (hand_chosen, loco, ceiling))
        for name in h:
            report["slices"][name] = {
                "hand": h[name],
                "learned_loco": learned[name],
                "any_candidate": top[name],
            }
    print(f"{'slice':<14}{'hand':>8}{'learned':>9}{'ceiling':>9}")
    for name, fig in report["slices"].items():
        print(f"{name:<14}{fig['hand']:>8.3f}{fig['learned_loco']:>9.3f}{fig['any_candidate']:>9.3f}")
    model = qt.fit(pools, args.l2)
    report["weights"] = dict(zip(QUOTE_FEATURES, model.weights, strict=True))
    report["weights_per_fold"] = {g: list(m.weights) for g, m in models.items()}
    for f, w in report["weights"].items():
        print(f"  {f:<18}{w:+.3f}")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.report}")
    if args.out:
        meta = {
            "trained_on": f"{len(pools)} answerable self-QA cases of {len({p.group for p in pools})} companies",
            "command": "python scripts/train_quotes.py " + " ".join(sys.argv[1:]),
            "l2": args.l2,
            "leave_one_company_out": report["slices"]["all"],
        }
        _trainer.write_model(dataclasses.replace(model, meta=meta), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
