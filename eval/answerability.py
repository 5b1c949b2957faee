"""Train and measure the answerability model (``irqa.rag.answerability``) on labelled cases.

Cases are questions asked through the real engine with every feature of the answerer's
:class:`~irqa.rag.answer.Assessment` recorded (``Engine.ask(assessments=...)``), labelled
*answerable* or not:

- the real records' self-QA (``irqa.eval.selfqa``): each investor question is answerable from its
  own record; the same question with its record left out, or asked about another company, is not
  (cases the self-QA ambiguity rule cannot decide are left out);
- a question file in the ``eval/data/sample_dev.jsonl`` format (``answerable`` per question).

Protocol (the measurement must be on data the weights never saw):

- **leave one company out** over the real records: for each company, a model trained on the other
  companies' cases, its threshold chosen on those cases, decides that company's cases; the figures
  are the pooled decisions;
- the **sample dev set** is never trained on: it is scored with the model trained on all real
  records;
- the threshold is chosen on the training side only: by default the one at which the model refuses
  as many of the training cases' unanswerable questions as the hand rules did (so a gain shows as
  fewer false refusals at the same silence), or the one that keeps their false refusals at
  ``target_false_refusal``.

The shipped model (``rag/data/answerability.json``) is trained on every real-record case; its
``meta`` records this run's figures and the command (``scripts/train_answerability.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from irqa.rag.answer import AnswerParams
from irqa.rag.answerability import FEATURES, MONOTONE, Answerability


@dataclass
class Example:
    """One asked question: its features, whether it is answerable, and how it is grouped."""

    features: dict[str, float]
    answerable: bool
    group: str  # company code (leave-one-company-out folds)
    lang: str = "zh"
    kind: str = ""  # answerable / leave_out / other_company / sample
    rules_answered: bool = False  # what the hand rules decided (the baseline)
    qid: str = ""
    #: refused whatever the model says: a hard reason (company not indexed, no hits) or nothing quotable
    forced: bool = False
    #: answerable cases: the quote the answerer chose lies in the right answer (None: unknown / n.a.)
    quote_ok: bool | None = None
    #: a precise rule refuses (a name, period, year or figure the quote lacks): the model is not asked
    precise: bool = False
    #: the quote is a header field (who attended, when): the rules decide, not the model
    field_quote: bool = False

    @property
    def decided_by_model(self) -> bool:
        return not self.forced and not self.precise and not self.field_quote

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Example:
        return cls(**data)


def matrix(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[e.features.get(f, 0.0) for f in FEATURES] for e in examples], dtype=np.float64)
    y = np.array([e.answerable for e in examples], dtype=np.int64)
    return x, y


def fit(
    examples: Sequence[Example],
    target_false_refusal: float | None = None,
    c: float = 1.0,
    meta: dict | None = None,
) -> Answerability:
    """A logistic regression over standardized features, each weight's sign bounded by
    :data:`~irqa.rag.answerability.MONOTONE`, classes weighted equally, L2 strength ``1/c``. The
    threshold: with ``target_false_refusal``, the training cases' false refusals at that rate; by
    default the rules' own unanswerable refusals matched (:func:`matching_threshold`)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    everything = list(examples)
    examples = [e for e in examples if e.decided_by_model]
    x, y = matrix(examples)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))  # balanced
    n = len(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, coef = theta[0], theta[1:]
        m = z @ coef + b
        nll = -(w * (y * log_expit(m) + (1 - y) * log_expit(-m))).sum() / n
        r = w * (expit(m) - y) / n
        return nll + float(coef @ coef) / (2 * c * n), np.concatenate([[r.sum()], z.T @ r + coef / (c * n)])

    sign = [MONOTONE[f] for f in FEATURES]
    bounds = [(None, None)] + [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in sign]
    res = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    model = Answerability(
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in res.x[1:]),
        intercept=float(res.x[0]),
        threshold=0.5,
        meta=meta,
    )
    if target_false_refusal is None:
        return dataclasses.replace(model, threshold=matching_threshold(model, everything))
    p = np.array([model.probability(e.features) for e in examples if e.answerable])
    threshold = float(np.quantile(p, target_false_refusal)) if len(p) else 0.5
    return dataclasses.replace(model, threshold=threshold)


def matching_threshold(model: Answerability, examples: Sequence[Example]) -> float:
    """The lowest threshold at which ``model`` refuses as many of the unanswerable ``examples`` as the
    hand rules did: the same silence, and whatever false refusals the model saves (the default
    operating point; README "Answerability")."""
    neg = [e for e in examples if not e.answerable]
    if not neg:
        return 0.5
    rules_refused = sum(not e.rules_answered for e in neg)
    fixed = sum(
        not answered
        for e, answered in zip(neg, decide(dataclasses.replace(model, threshold=2.0), neg), strict=True)
        if not e.decided_by_model
    )
    need = rules_refused - fixed  # refusals the model itself must make
    probs = sorted(model.probability(e.features) for e in neg if e.decided_by_model)
    if need <= 0 or not probs:
        return 0.0
    if need >= len(probs):
        return 1.0 + 1e-9
    return float(np.nextafter(probs[need - 1], 1.0))  # refuses the `need` least likely


def decide(model: Answerability, examples: Sequence[Example]) -> list[bool]:
    return [
        e.rules_answered
        if e.field_quote and not e.forced
        else e.decided_by_model and model.answers(e.features)
        for e in examples
    ]


def rates(examples: Sequence[Example], answered: Sequence[bool]) -> dict[str, float | int | None]:
    """False refusals (of answerable cases) and refusals of unanswerable ones, and their counts."""
    pos = [a for e, a in zip(examples, answered, strict=True) if e.answerable]
    neg = [a for e, a in zip(examples, answered, strict=True) if not e.answerable]
    quoted = [
        a and bool(e.quote_ok)
        for e, a in zip(examples, answered, strict=True)
        if e.answerable and e.kind == "answerable"
    ]
    return {
        "answerable": len(pos),
        "unanswerable": len(neg),
        "false_refusal": (sum(not a for a in pos) / len(pos)) if pos else None,
        "unanswerable_refusal": (sum(not a for a in neg) / len(neg)) if neg else None,
        # the answer's quote inside the right answer (refusals count as misses), self-QA cases
        "quote_in_answer": (sum(quoted) / len(quoted)) if quoted else None,
    }


def leave_one_company_out(
    examples: Sequence[Example], target_false_refusal: float | None = None, c: float = 1.0
) -> tuple[list[bool], dict[str, dict]]:
    """Each company's cases decided by a model that never saw that company; pooled decisions and
    per-company figures (learned and the rules' baseline)."""
    groups = sorted({e.group for e in examples})
    answered: list[bool] = [False] * len(examples)
    per: dict[str, dict] = {}
    for g in groups:
        train = [e for e in examples if e.group != g]
        test_idx = [i for i, e in enumerate(examples) if e.group == g]
        if not train or len({e.answerable for e in train}) < 2:
            continue
        model = fit(train, target_false_refusal, c)
        test = [examples[i] for i in test_idx]
        got = decide(model, test)
        for i, a in zip(test_idx, got, strict=True):
            answered[i] = a
        per[g] = {
            "learned": rates(test, got),
            "rules": rates(test, [e.rules_answered for e in test]),
            "threshold": model.threshold,
        }
    return answered, per


def by_slice(examples: Sequence[Example], answered: Sequence[bool], key: str) -> dict[str, dict]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        groups[getattr(e, key)].append(i)
    return {
        k: rates([examples[i] for i in idx], [answered[i] for i in idx]) for k, idx in sorted(groups.items())
    }


def ablation(
    examples: Sequence[Example], target_false_refusal: float | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Leave-one-company-out figures with each feature removed (a constant carries nothing): which rules help
    on companies they were not written for."""
    out = {}
    for f in FEATURES:
        dropped = [dataclasses.replace(e, features={**e.features, f: 0.0}) for e in examples]
        answered, _ = leave_one_company_out(dropped, target_false_refusal)
        out[f] = rates(examples, answered)
    return out


def weights_table(model: Answerability) -> list[tuple[str, float]]:
    """Features by the size of their standardized weight (what the model leans on)."""
    return sorted(zip(model.features, model.coef, strict=True), key=lambda t: -abs(t[1]))


def summarize(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def examples_from_questions(engine, questions) -> list[Example]:
    """Ask each question (``EvalQuestion``) of ``engine`` with its assessment recorded. A question
    answered per company (several named) gives one example per company part."""
    out = []
    for q in questions:
        sink: list = []
        answer = engine.ask(q.question, assessments=sink, qid=q.id)
        for a in sink:
            out.append(
                Example(
                    features=_features_of(a),
                    answerable=q.answerable,
                    group="sample",
                    lang=q.lang,
                    kind="sample",
                    rules_answered=not answer.abstained,
                    qid=q.id,
                    forced=a.hard or not a.chosen,
                    precise=bool(a.precise),
                    field_quote=bool(a.chosen and a.chosen[0].field),
                )
            )
    return out


def _features_of(a) -> dict[str, float]:
    """An assessment's features; a hard refusal has none (all zero: it is never trained on)."""
    return a.features if a.features else dict.fromkeys(FEATURES, 0.0)


def examples_from_selfqa(asked) -> list[Example]:
    """Self-QA cases (``irqa.eval.selfqa.Asked``) as examples: answerable ones are positives, the
    left-out-record and other-company ones negatives; grouped by the company the question came
    from (its other-company version too: it was written for that company)."""
    out = []
    for x in asked:
        if not x.assessments:
            continue
        a = x.assessments[0]  # a self-QA case names one company at most: one assessment
        out.append(
            Example(
                features=_features_of(a),
                answerable=x.case.kind == "answerable",
                group=x.case.gold.code,
                lang=x.case.lang,
                kind=x.case.kind,
                rules_answered=not x.answer.abstained,
                qid=x.case.id,
                forced=a.hard or not a.chosen,
                quote_ok=x.quote_ok(),
                precise=bool(a.precise),
                field_quote=bool(a.chosen and a.chosen[0].field),
            )
        )
    return out


def write_examples(examples: Sequence[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[Example]:
    return [
        Example.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line
    ]


# the hand rules, replayed from the features ------------------------------------------------------
#: the answerer's evidence rules (``irqa.rag.answer.Answerer``), by the features that decide them;
#: the first four are *precise* (they refuse whatever the model says), the last two *fuzzy*
RULES: tuple[str, ...] = ("names", "times", "other_years", "figure", "coverage", "dissimilar")
PRECISE_RULES = RULES[:4]


def rule_refuses(rule: str, f: dict[str, float], params: AnswerParams | None = None) -> bool:
    """Whether one rule refuses, from an example's features and the answerer's ``params`` (default:
    its defaults; :func:`replay_agreement` checks that this replays the answerer)."""
    p = params or AnswerParams()
    if rule == "names":
        return f["missing_names"] > 0
    if rule == "times":
        return f["missing_times"] > 0
    if rule == "other_years":
        return f["other_years"] > 0
    if rule == "figure":
        return f["asks_number"] > 0 and f["figure_quoted"] == 0
    if rule == "coverage":
        return f["passage_coverage"] < p.min_coverage
    if rule == "dissimilar":
        bar = p.abstain_below_without_terms if f["lexical_any"] == 0 else p.abstain_below
        return f["cos_best"] < max(bar, p.abstain_below)
    raise ValueError(f"unknown rule {rule!r}")


def rules_answer(e: Example, rules: Sequence[str] = RULES, params: AnswerParams | None = None) -> bool:
    """The hand rules' decision with only ``rules`` in force."""
    return not e.forced and not any(rule_refuses(r, e.features, params) for r in rules)


def replay_agreement(examples: Sequence[Example]) -> float:
    """Share of examples whose replayed rules decide as the answerer did (1.0 expected)."""
    same = [rules_answer(e) == e.rules_answered for e in examples]
    return sum(same) / len(same) if same else 1.0


def with_precise(examples: Sequence[Example], rules: Sequence[str]) -> list[Example]:
    """The examples with only ``rules`` as the precise rules (the hybrid's ablation)."""
    return [dataclasses.replace(e, precise=any(rule_refuses(r, e.features) for r in rules)) for e in examples]


def rules_ablation(examples: Sequence[Example]) -> dict[str, dict]:
    """The rules' figures with all of them, each one removed, and none."""
    out = {"all rules": rates(examples, [rules_answer(e) for e in examples])}
    for r in RULES:
        kept = [x for x in RULES if x != r]
        out[f"without {r}"] = rates(examples, [rules_answer(e, kept) for e in examples])
    out["no rules"] = rates(examples, [rules_answer(e, ()) for e in examples])
    return out
