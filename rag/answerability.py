"""Whether the best passages answer a question: a small learned model over the evidence.

The answerer's hand rules (names or periods the passages never mention, too few key terms, a
figure asked for and none quoted, a cosine bar) were each fitted to the three sample filings; on
real records they refuse answers that are there (a figure asked for, "we do not disclose it"
answered). Here they become *features*, next to the retrieval evidence (cosines, BM25, rank), and a
logistic regression trained on labelled cases (``irqa.eval.answerability``: real records' own Q&A
scored leave-one-company-out, and cases with the answering record left out) weighs them.

Its domain is what it was trained on: questions whose quote is an answer paragraph. The precise
rules (a name, period, year or figure the quote lacks) still refuse first, and a question answered
by a header field (参与单位, 时间: who attended, when) is decided by the rules as before — no
self-QA case asks one. No feature depends on the size of the index (the gap between the best and
the mean cosine of the top passages did: a three-filing index has only on-topic passages). The
weights and the refusal threshold ship in ``rag/data/answerability.json`` with the figures of the
run that chose them; the rules still write the refusal's one-line reason.

Inference is a dot product: no scikit-learn at answer time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

#: the features, in the order the model's weights are stored
FEATURES: tuple[str, ...] = (
    "cos_best",  # best question–passage cosine among the top passages
    "cos_top1",  # cosine of the first hit
    "lexical_any",  # a question term matched by BM25 in the top passages
    "unit_cos",  # cosine of the best quotable sentence to the question
    "unit_score",  # its full score (cosine + evidence terms)
    "unit_coverage",  # key terms in that sentence and its passage's question
    "passage_coverage",  # key terms in the best sentence's passage
    "missing_names",  # names the question asks about that no top passage mentions
    "missing_times",  # periods the same
    "other_years",  # the quote is about another year than the one asked
    "asks_number",  # the question asks for a figure
    "figure_quoted",  # … and a quotable sentence with a figure covers it
    "no_quote",  # nothing quotable among the top passages
    "latin_share",  # share of Latin letters in the question: English questions score lower cosines
    "terms",  # key terms in the question (log)
)


#: the sign each feature's weight may take (+1: more of it never makes an answer less likely, -1: never
#: more likely, 0: free). Unconstrained, the weights of the collinear cosines came out of opposite
#: signs (best passage −1.3, best sentence +1.3): harmless inside the training range, but a sample
#: question with a higher cosine than any self-QA case (0.93) was then refused
MONOTONE: dict[str, int] = {
    "cos_best": 1,
    "cos_top1": 1,
    "lexical_any": 1,
    "unit_cos": 1,
    "unit_score": 1,
    "unit_coverage": 1,
    "passage_coverage": 1,
    "missing_names": -1,
    "missing_times": -1,
    "other_years": -1,
    "asks_number": 0,
    "figure_quoted": 1,
    "no_quote": -1,
    "latin_share": 0,
    "terms": 0,
}


@dataclass(frozen=True)
class Answerability:
    """A logistic regression over standardized :data:`FEATURES`; answer when
    ``probability >= threshold``."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    features: tuple[str, ...] = FEATURES
    meta: dict | None = None  # how it was trained and measured

    def probability(self, x: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * (x[f] - m) / s
            for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def answers(self, x: dict[str, float]) -> bool:
        return self.probability(x) >= self.threshold

    # persistence ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "meta": self.meta or {},
        }

    @classmethod
    def from_json(cls, data: dict) -> Answerability:
        feats = tuple(data["features"])
        if feats != FEATURES:
            raise ValueError(f"answerability model features {feats} are not this version's {FEATURES}")
        return cls(
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            features=feats,
            meta=data.get("meta") or None,
        )

    @classmethod
    def load(cls, path: Path) -> Answerability:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def builtin(cls) -> Answerability | None:
        """The shipped model, or None when this build has none (the rules then decide alone)."""
        res = files("irqa.rag").joinpath("data/answerability.json")
        if not res.is_file():
            return None
        return cls.from_json(json.loads(res.read_text(encoding="utf-8")))


def latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 0.0
