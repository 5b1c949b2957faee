"""How a quotable sentence is scored against a question: weights over its evidence, in cosine units.

A unit's score is its embedding cosine to the question plus ``Σ weight × feature`` over
:data:`QUOTE_FEATURES`; the best-scoring unit is quoted and its neighbours join within
``AnswerParams.margin`` of it. Because the cosine's weight is fixed at 1, every other weight reads
as "worth this much cosine", and the margin keeps its meaning whatever the weights are.

:meth:`QuoteWeights.hand` are the weights written by hand for the three sample filings;
:meth:`QuoteWeights.builtin` are the ones ``scripts/train_quotes.py`` learned on the real records'
self-QA (a conditional logit over each question's candidates: the probability mass on the units
inside the question's own answer), shipped in ``rag/data/quote_weights.json`` with the
leave-one-company-out figures of the run that chose them. No learning library at answer time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

#: what a candidate unit is scored on besides its cosine (all computed in ``Answerer._choose``)
QUOTE_FEATURES: tuple[str, ...] = (
    "unit_coverage",  # the question's key terms (rarity-weighted) in the unit + its passage's question
    "passage_coverage",  # the key terms in the unit's whole passage
    "fused_share",  # the passage's fused retrieval score ÷ the best passage's
    "token_overlap",  # share of the question's tokens in the unit
    "number_wanted",  # a figure is (likely) asked for and the unit holds one
    "field_asked",  # a header field the question asks about (参与单位, 时间 …)
    "time_coverage",  # the periods asked about that the unit names
    "other_years",  # the unit is about another year than the one asked
    "passage_cos",  # the passage's own cosine to the question
    "rank",  # the passage's rank among the top passages (0 = first)
    "lead",  # the unit opens its passage
    "length",  # log of the unit's characters
)

_HAND = {
    "unit_coverage": 0.15,
    "passage_coverage": 0.10,
    "fused_share": 0.05,
    "token_overlap": 0.03,
    "number_wanted": 0.10,
    "field_asked": 0.10,
    "time_coverage": 0.05,
    "other_years": -0.10,
}


@dataclass(frozen=True)
class QuoteWeights:
    """Weights of :data:`QUOTE_FEATURES` (in that order), the cosine's being 1."""

    weights: tuple[float, ...]
    meta: dict | None = None

    def evidence(self, features: dict[str, float]) -> float:
        """The score without the cosine."""
        return sum(w * features[f] for f, w in zip(QUOTE_FEATURES, self.weights, strict=True))

    @classmethod
    def hand(cls) -> QuoteWeights:
        return cls(tuple(_HAND.get(f, 0.0) for f in QUOTE_FEATURES), meta={"source": "hand"})

    def to_json(self) -> dict:
        return {"features": list(QUOTE_FEATURES), "weights": list(self.weights), "meta": self.meta or {}}

    @classmethod
    def from_json(cls, data: dict) -> QuoteWeights:
        feats = tuple(data["features"])
        if feats != QUOTE_FEATURES:
            raise ValueError(f"quote weights for features {feats}, not this version's {QUOTE_FEATURES}")
        weights = tuple(float(w) for w in data["weights"])
        if not all(math.isfinite(w) for w in weights):
            raise ValueError("quote weights must be finite numbers")
        return cls(weights, meta=data.get("meta") or None)

    @classmethod
    def load(cls, path: Path) -> QuoteWeights:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def builtin(cls) -> QuoteWeights:
        """The shipped learned weights, or the hand weights when this build has none."""
        res = files("irqa.rag").joinpath("data/quote_weights.json")
        if not res.is_file():
            return cls.hand()
        return cls.from_json(json.loads(res.read_text(encoding="utf-8")))
