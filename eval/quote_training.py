"""Learn and measure the quote weights (``irqa.rag.quote_scoring``) on the real records' self-QA.

Every answerable self-QA case (an investor question, masked from its own passage) is asked with
every candidate unit embedded (``AnswerParams.embed_units=0``); each candidate keeps its cosine,
its :data:`~irqa.rag.quote_scoring.QUOTE_FEATURES` and whether it lies inside the case's own
answer. :func:`choose` replays the answerer's choice of the first quoted unit exactly — the
``embed_units`` best by evidence + passage cosine, then the best by cosine + evidence — so any
weights can be scored offline on the same pools.

The learner is a conditional logit: per case, a softmax over its candidates of
``β_cos·cosine + Σ β_f·feature``, maximizing the probability mass on the units inside the own
answer (L2 on the feature weights); the weights shipped are ``β_f / β_cos``, so they read in
cosine units like the hand weights. Measured **leave one company out**: each company's cases
are chosen with weights learned on the other companies'.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from irqa.rag.quote_scoring import QUOTE_FEATURES, QuoteWeights


@dataclass
class Pool:
    """One answerable case's candidate units."""

    qid: str
    group: str  # the company the question came from
    lang: str
    cosine: list[float]
    features: list[list[float]]  # per candidate, in QUOTE_FEATURES order
    gold: list[bool]  # the candidate lies inside the case's own answer

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Pool:
        return cls(**data)


def pools_from_selfqa(asked) -> list[Pool]:
    """Answerable ``irqa.eval.selfqa.Asked`` cases → pools (a case with no candidate keeps an empty
    pool: it counts as a miss for every weighting)."""
    out = []
    for x in asked:
        if x.case.kind != "answerable" or not x.assessments:
            continue
        a, g = x.assessments[0], x.case.gold
        cos, feats, gold = [], [], []
        for c in a.candidates:
            p = a.hits[c.hit_index].passage
            cos.append(float(c.cosine if c.cosine is not None else 0.0))
            feats.append([float(c.features[f]) for f in QUOTE_FEATURES])
            gold.append(p.filing_id == g.filing_id and g.start <= c.span.start and c.span.end <= g.end)
        out.append(Pool(x.case.id, g.code, x.case.lang, cos, feats, gold))
    return out


def write_pools(pools: Sequence[Pool], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in pools:
            f.write(json.dumps(p.to_json()) + "\n")


def read_pools(path: Path) -> list[Pool]:
    return [
        Pool.from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line
    ]


def choose(pool: Pool, weights: Sequence[float], embed_units: int = 6) -> int | None:
    """The candidate the answerer quotes first under ``weights`` (None: nothing to quote)."""
    if not pool.cosine:
        return None
    f = np.asarray(pool.features, dtype=np.float64)
    cos = np.asarray(pool.cosine, dtype=np.float64)
    evidence = f @ np.asarray(weights, dtype=np.float64)
    idx = np.arange(len(cos))
    if embed_units and len(idx) > embed_units:
        passage_cos = f[:, QUOTE_FEATURES.index("passage_cos")]
        idx = np.argsort(-(evidence + passage_cos), kind="stable")[:embed_units]
    return int(idx[np.argmax(cos[idx] + evidence[idx])])


def hit_rate(pools: Sequence[Pool], weights: Sequence[float], embed_units: int = 6) -> float | None:
    """Share of cases whose first quoted unit lies in their own answer."""
    if not pools:
        return None
    hits = [(i := choose(p, weights, embed_units)) is not None and p.gold[i] for p in pools]
    return float(np.mean(hits))


def fit(pools: Sequence[Pool], l2: float = 1.0, prior: QuoteWeights | None = None) -> QuoteWeights:
    """The conditional logit (module docstring); weights in cosine units.

    The penalty pulls each weight towards ``prior`` (default: the hand weights), not towards 0:
    a feature the self-QA cases seldom show (a header field asked about, a date) keeps its prior
    weight instead of losing it for want of examples; ``l2`` is in units of the features'
    standard deviations."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    prior = prior or QuoteWeights.hand()
    usable = [p for p in pools if any(p.gold) and not all(p.gold)]
    xs = [np.column_stack([np.asarray(p.cosine), np.asarray(p.features)]) for p in usable]
    golds = [np.asarray(p.gold) for p in usable]
    sd = np.concatenate(xs).std(axis=0)
    sd[sd < 1e-9] = 1.0
    w0 = np.asarray(prior.weights)
    n = len(usable)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(beta)
        for x, g in zip(xs, golds, strict=True):
            s = x @ beta
            all_lse, gold_lse = logsumexp(s), logsumexp(s[g])
            total -= gold_lse - all_lse
            p_all = np.exp(s - all_lse)
            p_gold = np.where(g, np.exp(s - gold_lse), 0.0)
            grad -= x.T @ (p_gold - p_all)
        # deviation from the prior, in standard deviations of each feature's contribution
        d = (beta[1:] - beta[0] * w0) * sd[1:]
        reg = np.zeros_like(beta)
        reg[1:] = l2 * d * sd[1:]
        reg[0] = -l2 * float(d @ (w0 * sd[1:]))
        return total / n + l2 * float(d @ d) / 2, grad / n + reg

    beta0 = np.concatenate([[1.0], w0]) * 20.0  # the prior, at a plausible temperature
    res = minimize(loss, beta0, jac=True, method="L-BFGS-B")
    beta = res.x
    if beta[0] <= 0:
        raise ValueError("the learned cosine weight is not positive: the pools are degenerate")
    return QuoteWeights(tuple(float(b / beta[0]) for b in beta[1:]))


def leave_one_company_out(
    pools: Sequence[Pool], l2: float = 1.0, embed_units: int = 6
) -> tuple[dict[str, int | None], dict[str, QuoteWeights]]:
    """Each company's first quoted unit chosen with weights learned on the other companies."""
    chosen: dict[str, int | None] = {}
    models: dict[str, QuoteWeights] = {}
    for g in sorted({p.group for p in pools}):
        model = fit([p for p in pools if p.group != g], l2)
        models[g] = model
        for p in pools:
            if p.group == g:
                chosen[p.qid] = choose(p, model.weights, embed_units)
    return chosen, models


def rates_by(pools: Sequence[Pool], chosen: dict[str, int | None], key: str) -> dict[str, float]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for p in pools:
        i = chosen[p.qid]
        ok = i is not None and p.gold[i]
        groups["all"].append(ok)
        groups[f"{key}:{getattr(p, key)}"].append(ok)
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}
