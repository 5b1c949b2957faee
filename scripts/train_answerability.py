"""Train the answerability model on the real records' self-QA and measure it leave-one-company-out.

    python scripts/train_answerability.py ../shared/corpus/real_filings \\
        --examples bench-results/answerability/examples.jsonl \\
        --report bench-results/answerability/report.json --out rag/data/answerability.json

1. The records are ingested into a throwaway index and every self-QA case (``irqa eval selfqa``:
   answerable, record left out, another company) is asked with the hand rules deciding, each
   case's features recorded; the sample dev set (``eval/data/sample_dev.jsonl`` over the built-in
   samples) the same. The cases are written to ``--examples``; ``--reuse`` reads them back instead
   (the learner can then be changed without asking again: features do not depend on the model).
2. **Leave one company out**: each company's cases are decided by a model trained on the other
   eight companies (threshold from those eight too: by default the one at which the model refuses
   as many of their unanswerable cases as the rules did); the pooled decisions are the figures,
   beside the rules' decisions on the same cases, per language and per kind.
3. The ablation: the same protocol with each feature removed.
4. The model trained on all real-record cases is scored on the sample dev set (never trained on)
   and written to ``--out`` with this run's figures in its ``meta``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from irqa.runtime import prepare_process
from irqa.settings import Settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
prepare_process(Settings().cache_dir, Settings().threads)

from irqa.eval import answerability as ans  # noqa: E402
from irqa.rag.engine import Engine, sample_dir  # noqa: E402

from irqa.wiring import embedder_factory, engine_config, query_embedder_factory  # noqa: E402

SAMPLE_DEV = Path(__file__).resolve().parents[1] / "eval" / "data" / "sample_dev.jsonl"


def selfqa_engine(tmp: Path, name: str, **config) -> Engine:
    """A throwaway engine under ``tmp`` whose answers the rules decide (``config``: more fields)."""
    s = Settings()
    base = dataclasses.replace(engine_config(s), index=tmp / name, store=None, aliases=None)
    config = dataclasses.replace(base, **{"answerability": "rules", **config})
    return Engine(config, embedder_factory(s), query_embedder_factory(s, resident=True))


def collect(records: list[Path], translations: Path | None) -> tuple[list[ans.Example], list[ans.Example]]:
    from irqa.eval.relevance import load_questions
    from irqa.eval.selfqa import TRANSLATIONS, load_translations, run_selfqa

    with tempfile.TemporaryDirectory(prefix="irqa-train-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        real = selfqa_engine(Path(tmp), "real")
        t0 = time.perf_counter()
        report = real.ingest_paths(records)
        print(f"ingested {len(records)} paths in {time.perf_counter() - t0:.0f} s; failed: {report.failed}")
        asked: list = []
        run_selfqa(real, load_translations(translations or TRANSLATIONS), on_asked=asked.append)
        real_examples = ans.examples_from_selfqa(asked)
        sample = selfqa_engine(Path(tmp), "sample")
        sample.ingest_paths(sorted(sample_dir().glob("*.txt")))
        sample_examples = ans.examples_from_questions(sample, load_questions(SAMPLE_DEV))
    return real_examples, sample_examples


def write_model(model, path: Path) -> None:
    """A learned model's JSON (``to_json``) where the answerer reads it; both training scripts use it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def _row(name: str, fig: dict) -> str:
    keys = ("answerable", "unanswerable", "false_refusal", "unanswerable_refusal", "quote_in_answer")
    return f"{name:<24}" + "".join(f"{ans.summarize(fig.get(k)):>12}" for k in keys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", type=Path, help="real records (folders or files)")
    ap.add_argument("--examples", type=Path, default=Path("bench-results/answerability/examples.jsonl"))
    ap.add_argument("--reuse", action="store_true", help="read --examples instead of asking again")
    ap.add_argument("--translations", type=Path, default=None)
    ap.add_argument(
        "--target-false-refusal",
        type=float,
        default=None,
        help="threshold at this training false-refusal rate (default: match the rules' unanswerable refusals)",
    )
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--report", type=Path, default=Path("bench-results/answerability/report.json"))
    ap.add_argument("--out", type=Path, default=None, help="write the model trained on every real case here")
    args = ap.parse_args(argv)

    sample_path = args.examples.with_name(args.examples.stem + ".sample.jsonl")
    if args.reuse:
        real, sample = ans.read_examples(args.examples), ans.read_examples(sample_path)
    else:
        if not args.records:
            ap.error("give the real records (or --reuse)")
        real, sample = collect(args.records, args.translations)
        ans.write_examples(real, args.examples)
        ans.write_examples(sample, sample_path)
    print(f"{len(real)} real-record cases, {len(sample)} sample dev cases")

    target, c = args.target_false_refusal, args.c
    learned, per_company = ans.leave_one_company_out(real, target, c)
    rules = [e.rules_answered for e in real]
    report: dict = {"target_false_refusal": target, "c": c, "slices": {}, "companies": per_company}
    header = f"{'':<24}" + "".join(
        f"{k:>12}" for k in ("answerable", "unanswer.", "false_ref", "unans_ref", "quote_in")
    )
    print(header)
    for key in ("all", "lang", "kind"):
        if key == "all":
            slices = {"all": (ans.rates(real, rules), ans.rates(real, learned))}
        else:
            r, ll = ans.by_slice(real, rules, key), ans.by_slice(real, learned, key)
            slices = {f"{key}:{k}": (r[k], ll[k]) for k in r}
        for name, (r, ll) in slices.items():
            print(_row(f"{name} rules", r))
            print(_row(f"{name} learned", ll))
            report["slices"][name] = {"rules": r, "learned": ll}
    report["replay_agreement"] = {"real": ans.replay_agreement(real), "sample": ans.replay_agreement(sample)}
    print(f"rules replayed from the features agree with the answerer: {report['replay_agreement']}")
    report["feature_ablation"] = ans.ablation(real, target)
    print("feature ablation (feature removed → LOCO figures):")
    for f, fig in report["feature_ablation"].items():
        print(_row(f"- {f}", fig))
    report["rules_ablation"] = {}
    print("rules ablation (the rules alone; real records, then the sample dev set):")
    for name, ex in (
        ("real", real),
        ("sample", sample),
        *((f"real:{lang}", [e for e in real if e.lang == lang]) for lang in ("zh", "en", "mixed")),
    ):
        report["rules_ablation"][name] = ans.rules_ablation(ex)
        for rule, fig in report["rules_ablation"][name].items():
            print(_row(f"{name} {rule}", fig))
    report["precise_ablation"] = {}
    print("precise rules with the model (each one handed to the model instead):")
    for rule in ("none", *ans.PRECISE_RULES):
        kept = [r for r in ans.PRECISE_RULES if r != rule]
        ex_real, ex_sample = ans.with_precise(real, kept), ans.with_precise(sample, kept)
        got, _ = ans.leave_one_company_out(ex_real, target, c)
        m = ans.fit(ex_real, target, c)
        fig = {"real": ans.rates(ex_real, got), "sample": ans.rates(ex_sample, ans.decide(m, ex_sample))}
        report["precise_ablation"][f"without {rule}"] = fig
        print(_row(f"real   without {rule}", fig["real"]))
        print(_row(f"sample without {rule}", fig["sample"]))

    model = ans.fit(real, target, c)
    sample_rules = [e.rules_answered for e in sample]
    sample_learned = ans.decide(model, sample)
    report["sample_dev"] = {
        "rules": ans.rates(sample, sample_rules),
        "learned": ans.rates(sample, sample_learned),
    }
    print(_row("sample dev rules", report["sample_dev"]["rules"]))
    print(_row("sample dev learned", report["sample_dev"]["learned"]))
    report["weights"] = ans.weights_table(model)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.report}")
    if args.out:
        meta = {
            "trained_on": f"{len(real)} self-QA cases of {len({e.group for e in real})} companies' real records",
            "command": "python scripts/train_answerability.py " + " ".join(sys.argv[1:]),
            "target_false_refusal": target,
            "c": c,
            "leave_one_company_out": report["slices"]["all"]["learned"],
            "rules_same_cases": report["slices"]["all"]["rules"],
            "sample_dev": report["sample_dev"]["learned"],
        }
        write_model(dataclasses.replace(model, meta=meta), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
