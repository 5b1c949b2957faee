"""Ablate the answerer's switchable rules on a question file over an index.

Each variant is the default ``AnswerParams`` with one rule changed; every variant answers every
question of the file over the same index, and the answer metrics (citation hit, unanswerable
refused, answerable refused) are printed and written per company group, so a rule can be judged
on companies it was not written for::

    irqa ingest ../shared/corpus/real_filings            # with IRQA_INDEX=... IRQA_CACHE_DIR=...
    python scripts/ablate_answer_rules.py eval/data/real_dev.jsonl --index DIR --cache DIR \\
        --out bench-results/ablate_real_dev.json

The engine is built from the process's settings (``irqa.wiring``), as ``irqa eval questions`` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from irqa.eval.questions import SystemOutput, evaluate_questions
from irqa.eval.relevance import load_questions
from irqa.rag.engine import Engine

from irqa.settings import Settings
from irqa.wiring import embedder_factory, engine_config

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "no record year as period evidence": {"record_year": False},
    "no figure fallback (refuse when the quote states no figure)": {"figure_fallback": False},
    "no figure rule": {"figure_rule": False, "figure_fallback": False},
}
METRICS = ("citation_hit", "abstention_accuracy", "false_abstention_rate")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("questions", type=Path)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", action="append", help="run only this variant (repeatable)")
    args = ap.parse_args()
    questions = load_questions(args.questions)
    raw = {
        json.loads(line)["id"]: json.loads(line) for line in args.questions.read_text().splitlines() if line
    }
    config = engine_config(Settings(index=args.index, cache_dir=args.cache))
    embedder = embedder_factory(Settings(index=args.index, cache_dir=args.cache))()
    report: dict[str, dict] = {}
    for name, change in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        engine = Engine(
            dataclasses.replace(config, answer=dataclasses.replace(config.answer, **change)), embedder
        )
        outputs = [SystemOutput.from_answer(engine.ask(q.question, qid=q.id)) for q in questions]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(questions):
            groups["all"].append(i)
            groups[f"lang={raw[q.id].get('lang', '?')}"].append(i)
            groups[f"company={raw[q.id].get('company', '?')}"].append(i)
        report[name] = {}
        for g, idx in sorted(groups.items()):
            system, _ = evaluate_questions(name, [questions[i] for i in idx], [outputs[i] for i in idx])
            report[name][g] = {m: system.metrics.get(m) for m in METRICS} | {"n": len(idx)}
        row = report[name]["all"]
        print(f"{name:40s} " + "  ".join(f"{m} {row[m]:.3f}" for m in METRICS))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
