"""The evaluation results structure shared by the evaluators and the reports.

Every system carries the same metric keys (:data:`METRIC_KEYS`); a metric that does not apply
(e.g. ``citation_hit`` for a retrieval-only baseline) is ``None``, never missing, so JSON
consumers can rely on the keys. Key meanings:

- ``hit@k``: share of questions with a relevant passage in the top k.
- ``recall@k``: question set — share of gold quotes covered by the top k; BEIR — share of the
  qrels' relevant docs in the top k.
- ``mrr@10``, ``ndcg@10``: reciprocal rank of the first relevant passage; binary-gain nDCG.
- ``citation_hit``: share of answerable questions answered (not abstained) with at least one
  citation that is relevant by the quote rule.
- ``abstention_accuracy``: share of all questions where ``abstained == not answerable``.
- ``false_abstention_rate``: share of answerable questions where the system abstained.
- ``latency_ms_p50`` / ``latency_ms_p95``: per-question wall time percentiles.

Ranking metrics on the question set average over answerable questions only.

Example::

    >>> r = EvalResults(kind="questions", dataset="dev", systems=[SystemResult(name="bm25")])
    >>> sorted(r.to_json()["systems"][0]["metrics"])[:3]
    ['abstention_accuracy', 'citation_hit', 'false_abstention_rate']
"""

from __future__ import annotations

from typing import Any, Literal

from irqa.eval.metrics import BEIR_KEYS as RANKING_KEYS
from pydantic import BaseModel, Field, field_validator

METRIC_KEYS: tuple[str, ...] = (
    *RANKING_KEYS,
    "citation_hit",
    "abstention_accuracy",
    "false_abstention_rate",
    "latency_ms_p50",
    "latency_ms_p95",
)
SNIPPET_CHARS = 240


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A one-line preview of a passage for reports."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class PassageRow(BaseModel):
    """One retrieved passage as shown in a report."""

    id: str
    code: str = ""
    text: str  # a snippet, not the full passage
    relevant: bool


class QuestionRow(BaseModel):
    """What one system did with one question."""

    id: str
    question: str
    system: str
    answerable: bool | None = None  # None for BEIR queries (always judged answerable)
    passages: list[PassageRow] = Field(default_factory=list)
    hit_rank: int | None = None  # 1-based rank of the first relevant passage
    answer: str | None = None  # None for retrieval-only systems
    abstained: bool | None = None
    citation_hit: bool | None = None
    latency_ms: float | None = None


class SystemResult(BaseModel):
    """Aggregate metrics of one system, plus what the plots need."""

    name: str
    metrics: dict[str, float | None] = Field(default_factory=lambda: dict.fromkeys(METRIC_KEYS))
    n_questions: int = 0
    recall_curve: list[float] = Field(default_factory=list)  # recall@1..len, index 0 is k=1
    latencies_ms: list[float] = Field(default_factory=list)

    @field_validator("metrics")
    @classmethod
    def _fill_keys(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        unknown = set(v) - set(METRIC_KEYS)
        if unknown:
            raise ValueError(f"unknown metric keys: {sorted(unknown)}")
        return {k: v.get(k) for k in METRIC_KEYS}


class EvalResults(BaseModel):
    """One evaluation: several systems over one dataset."""

    kind: Literal["questions", "beir"]
    dataset: str
    created: str = ""  # ISO timestamp, set by the caller (kept out of tests' way)
    systems: list[SystemResult] = Field(default_factory=list)
    rows: list[QuestionRow] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)  # settings, model names, corpus size...

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape; :func:`eval.report.write_json` dumps it with sorted keys."""
        return self.model_dump(mode="json")
