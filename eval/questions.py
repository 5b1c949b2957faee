"""Score one system's outputs on a rule-judged question set (e.g. ``eval/data/sample_dev.jsonl``).

The caller runs the system and passes plain outputs in, so this module never needs an engine:
one :class:`SystemOutput` per question, in question order. A retrieval-only baseline leaves
``answer``/``abstained`` as None, and the answer metrics come out None.

Example::

    >>> from irqa.eval.relevance import EvalQuestion, GoldItem
    >>> q = EvalQuestion(id="d1", question="研发人员多少？", answerable=True, lang="zh", kind="number",
    ...                  relevant=[GoldItem(quote="公司研发人员595人", code="688088")])
    >>> p = Retrieved(id="p9", code="688088", text="截至6月30日，公司研发人员595人")
    >>> out = SystemOutput(passages=[p])
    >>> system, rows = evaluate_questions("bm25", [q], [out])
    >>> system.metrics["hit@1"], rows[0].hit_rank
    (1.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from irqa.eval.metrics import first_hit_rank, hit_at_k, latency_percentiles, mean, mrr_at_k, ndcg_at_k
from irqa.eval.relevance import EvalQuestion, is_relevant, matched_gold
from irqa.eval.results import PassageRow, QuestionRow, SystemResult, snippet
from pydantic import BaseModel, Field

CURVE_K = 10


class Retrieved(BaseModel):
    """One ranked passage as the evaluator needs it."""

    id: str
    code: str
    text: str


class Cited(BaseModel):
    """One citation of an answer: the quoted text and the filing's stock code."""

    quote: str
    code: str


class SystemOutput(BaseModel):
    """Everything a system produced for one question."""

    passages: list[Retrieved] = Field(default_factory=list)  # ranked, best first
    answer: str | None = None
    abstained: bool | None = None
    citations: list[Cited] = Field(default_factory=list)
    latency_ms: float | None = None

    @classmethod
    def from_ranked(cls, ranked: Sequence[tuple[str, str, str]], **kw: Any) -> SystemOutput:
        """From ``[(passage_text, passage_code, passage_id), ...]``, the engine-agnostic shape."""
        return cls(passages=[Retrieved(text=t, code=c, id=i) for t, c, i in ranked], **kw)

    @classmethod
    def from_answer(cls, answer: Any, latency_ms: float | None = None) -> SystemOutput:
        """From a ``rag.models.Answer`` (duck-typed so this package does not import the engine)."""
        return cls(
            passages=[
                Retrieved(id=h.passage.id, code=h.passage.code, text=h.passage.text) for h in answer.passages
            ],
            answer=answer.answer,
            abstained=answer.abstained,
            citations=[Cited(quote=c.quote, code=c.code) for c in answer.citations],
            latency_ms=latency_ms if latency_ms is not None else answer.timings_ms.get("total"),
        )


def _recall(q: EvalQuestion, passages: list[Retrieved], k: int) -> float:
    covered: set[int] = set()
    for p in passages[:k]:
        covered.update(matched_gold(p.text, p.code, q.relevant))
    return len(covered) / len(q.relevant)


def evaluate_questions(
    system: str, questions: Sequence[EvalQuestion], outputs: Sequence[SystemOutput]
) -> tuple[SystemResult, list[QuestionRow]]:
    """Aggregate metrics and per-question rows for one system (see ``eval.results`` for keys)."""
    if len(questions) != len(outputs):
        raise ValueError(f"{len(questions)} questions but {len(outputs)} outputs")
    rows: list[QuestionRow] = []
    per: dict[str, list[float]] = {k: [] for k in ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")}
    recalls: dict[int, list[float]] = {k: [] for k in range(1, CURVE_K + 1)}
    recall100: list[float] = []
    cite, abst_ok, false_abst = [], [], []
    latencies = [o.latency_ms for o in outputs if o.latency_ms is not None]
    for q, out in zip(questions, outputs, strict=True):
        rels = [is_relevant(p.text, p.code, q.relevant) for p in out.passages]
        cited: bool | None = None
        if q.answerable:
            per["hit@1"].append(hit_at_k(rels, 1))
            per["hit@5"].append(hit_at_k(rels, 5))
            per["hit@10"].append(hit_at_k(rels, 10))
            per["mrr@10"].append(mrr_at_k(rels, 10))
            per["ndcg@10"].append(ndcg_at_k(rels, 10, n_relevant=max(len(q.relevant), sum(rels[:10]))))
            for k in recalls:
                recalls[k].append(_recall(q, out.passages, k))
            recall100.append(_recall(q, out.passages, 100))
            if out.abstained is not None:
                cited = not out.abstained and any(
                    is_relevant(c.quote, c.code, q.relevant) for c in out.citations
                )
                cite.append(float(cited))
                false_abst.append(float(out.abstained))
        if out.abstained is not None:
            abst_ok.append(float(out.abstained == (not q.answerable)))
        rows.append(
            QuestionRow(
                id=q.id,
                question=q.question,
                system=system,
                answerable=q.answerable,
                passages=[
                    PassageRow(id=p.id, code=p.code, text=snippet(p.text), relevant=r)
                    for p, r in zip(out.passages[:CURVE_K], rels, strict=False)
                ],
                hit_rank=first_hit_rank(rels),
                answer=out.answer,
                abstained=out.abstained,
                citation_hit=cited,
                latency_ms=out.latency_ms,
            )
        )
    metrics: dict[str, float | None] = {k: mean(v) for k, v in per.items()}
    metrics |= {f"recall@{k}": mean(recalls[k]) for k in (1, 5, 10)}
    metrics["recall@100"] = mean(recall100)
    metrics["citation_hit"] = mean(cite)
    metrics["abstention_accuracy"] = mean(abst_ok)
    metrics["false_abstention_rate"] = mean(false_abst)
    metrics |= latency_percentiles(latencies)
    curve = [mean(recalls[k]) or 0.0 for k in range(1, CURVE_K + 1)] if recalls[1] else []
    result = SystemResult(
        name=system, metrics=metrics, n_questions=len(questions), recall_curve=curve, latencies_ms=latencies
    )
    return result, rows
