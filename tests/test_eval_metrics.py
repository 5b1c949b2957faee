"""Metric functions on hand-computed cases, agreement with ir_measures, the question evaluator."""

from __future__ import annotations

import itertools
import math
import random

import ir_measures
import pytest
from ir_measures import RR, R, nDCG
from irqa.eval.metrics import (
    BEIR_KEYS,
    beir_metrics,
    first_hit_rank,
    hit_at_k,
    latency_percentiles,
    mrr_at_k,
    ndcg_at_k,
    per_query_beir,
    recall_at_k,
    recall_curve,
    run_to_scores,
)
from irqa.eval.questions import Cited, SystemOutput, evaluate_questions
from irqa.eval.relevance import EvalQuestion, GoldItem
from irqa.eval.results import METRIC_KEYS

T, F = True, False


def test_hit_and_first_rank():
    assert first_hit_rank([F, F, T, T]) == 3
    assert first_hit_rank([F, F]) is None
    assert hit_at_k([F, F, T], 2) == 0.0
    assert hit_at_k([F, F, T], 3) == 1.0
    assert hit_at_k([], 10) == 0.0


def test_recall_at_k_by_hand():
    ranked = ["d1", "d2", "d3", "d4"]
    assert recall_at_k(ranked, {"d2", "d4", "d9"}, 1) == 0.0
    assert recall_at_k(ranked, {"d2", "d4", "d9"}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, {"d2", "d4", "d9"}, 10) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, set(), 10) == 0.0


def test_mrr_by_hand():
    assert mrr_at_k([F, F, T], 10) == pytest.approx(1 / 3)
    assert mrr_at_k([T, T], 10) == 1.0
    assert mrr_at_k([F] * 10 + [T], 10) == 0.0  # rank 11 is outside MRR@10


def test_ndcg_by_hand():
    # relevant at ranks 2 and 4, 3 relevant exist: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/2
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k([F, T, F, T], 10, n_relevant=3) == pytest.approx(dcg / idcg)
    # n_relevant unknown: ideal is the best reordering of what was retrieved
    assert ndcg_at_k([F, T, F, T], 10) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert ndcg_at_k([T], 10, n_relevant=1) == 1.0
    assert ndcg_at_k([F, F], 10, n_relevant=0) == 0.0
    assert ndcg_at_k([F] * 10 + [T], 10, n_relevant=1) == 0.0


def test_latency_percentiles():
    out = latency_percentiles([10, 20, 30, 40, 1000])
    assert out["latency_ms_p50"] == 30.0
    assert out["latency_ms_p95"] == pytest.approx(40 + 0.8 * 960)  # numpy linear interpolation
    assert latency_percentiles([]) == {"latency_ms_p50": None, "latency_ms_p95": None}


def _random_case(seed: int = 7, n_queries: int = 40, n_docs: int = 150):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        qrels[qid] = {d: 1 for d in rng.sample(docs, rng.randint(1, 4))}
        if q % 10 == 9:
            continue  # a query the system never answered
        ranked = rng.sample(docs, rng.randint(0, 120))
        # plant relevant docs at random ranks so the metrics are not all ~0
        for d in qrels[qid]:
            if rng.random() < 0.6 and ranked:
                ranked.insert(rng.randint(0, min(len(ranked), 15)), d)
        seen: set[str] = set()
        run[qid] = [d for d in ranked if not (d in seen or seen.add(d))]
    return qrels, run


def _own(qrels, run) -> dict[str, float]:
    """The question-set metric functions applied to a qrels-judged run."""
    out = {k: 0.0 for k in BEIR_KEYS}
    for qid, rel in qrels.items():
        ranked = run.get(qid, [])
        rels = [d in rel for d in ranked]
        for k in (1, 5, 10):
            out[f"hit@{k}"] += hit_at_k(rels, k)
        for k in (1, 5, 10, 100):
            out[f"recall@{k}"] += recall_at_k(ranked, rel, k)
        out["mrr@10"] += mrr_at_k(rels, 10)
        out["ndcg@10"] += ndcg_at_k(rels, 10, n_relevant=len(rel))
    return {k: v / len(qrels) for k, v in out.items()}


def test_own_functions_agree_with_ir_measures():
    qrels, run = _random_case()
    ours, lib = _own(qrels, run), beir_metrics(qrels, run)
    assert set(lib) == set(BEIR_KEYS)
    for k in BEIR_KEYS:
        assert ours[k] == pytest.approx(lib[k], abs=1e-9), k
    assert 0.1 < lib["mrr@10"] < 0.9  # the case is not degenerate


def test_beir_metrics_matches_plain_ir_measures_when_all_queries_answered():
    qrels, run = _random_case(seed=3)
    run = {q: r for q, r in run.items() if r}
    qrels = {q: d for q, d in qrels.items() if q in run}
    scored = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items()}
    ref = ir_measures.calc_aggregate([R @ 1, R @ 5, R @ 10, R @ 100, RR @ 10, nDCG @ 10], qrels, scored)
    ours = beir_metrics(qrels, run)
    assert ours["recall@1"] == pytest.approx(ref[R @ 1])
    assert ours["recall@100"] == pytest.approx(ref[R @ 100])
    assert ours["mrr@10"] == pytest.approx(ref[RR @ 10])
    assert ours["ndcg@10"] == pytest.approx(ref[nDCG @ 10])


def test_missing_queries_count_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert beir_metrics(qrels, {"q1": ["a"]})["mrr@10"] == 0.5
    assert per_query_beir(qrels, {"q1": ["a"]})["q2"]["hit@10"] == 0.0


def test_list_order_wins_over_tied_scores():
    # trec_eval would order tied scores by doc id (z before a); the list says a is first
    run = {"q1": [("a", 1.0), ("z", 1.0)]}
    assert run_to_scores(run) == {"q1": {"a": -1.0, "z": -2.0}}
    assert beir_metrics({"q1": {"a": 1}}, run)["mrr@10"] == 1.0


def test_recall_curve_matches_recall_at_k():
    qrels, run = _random_case(seed=11)
    curve = recall_curve(qrels, run, 100)
    lib = beir_metrics(qrels, run)
    assert len(curve) == 100
    for k in (1, 5, 10, 100):
        assert curve[k - 1] == pytest.approx(lib[f"recall@{k}"]), k
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(curve))


# --- question-set evaluator ------------------------------------------------------------------

Q_ANS = EvalQuestion(
    id="d1",
    question="How many R&D staff?",
    answerable=True,
    lang="en",
    kind="number",
    relevant=[
        GoldItem(quote="公司研发人员595人，占公司总人数的比例为63.64%", code="688088"),
        GoldItem(quote="公司研发费用共计1.94亿元，占营业收入的50.93%", code="688088"),
    ],
)
Q_UNANS = EvalQuestion(id="d2", question="贵州茅台的分红计划", answerable=False, lang="zh", kind="number")
STAFF = "截至2024年6月30日，公司研发人员595人，占公司总人数的比例为63.64%，同比增长13.55%。"
COST = "2024年上半年，公司研发费用共计1.94亿元，占营业收入的50.93%，同比增长18.37%。"


def test_evaluate_questions_by_hand():
    outputs = [
        SystemOutput.from_ranked(
            [
                ("无关段落" * 10, "688088", "p0"),
                (STAFF, "002415", "p1"),
                (STAFF, "688088", "p2"),
                (COST, "688088", "p3"),
            ],
            answer="595人",
            abstained=False,
            citations=[Cited(quote=STAFF, code="688088")],
            latency_ms=10.0,
        ),
        SystemOutput(answer="", abstained=False, latency_ms=30.0),  # answered an unanswerable question
    ]
    result, rows = evaluate_questions("sys", [Q_ANS, Q_UNANS], outputs)
    m = result.metrics
    assert list(m) == list(METRIC_KEYS)
    assert rows[0].hit_rank == 3  # p1 has the text but the wrong company code
    assert (m["hit@1"], m["hit@5"], m["mrr@10"]) == (0.0, 1.0, pytest.approx(1 / 3))
    assert (m["recall@1"], m["recall@5"]) == (0.0, 1.0)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert m["citation_hit"] == 1.0
    assert m["abstention_accuracy"] == 0.5
    assert m["false_abstention_rate"] == 0.0
    assert m["latency_ms_p50"] == 20.0
    assert [p.relevant for p in rows[0].passages] == [False, False, True, True]
    assert rows[1].hit_rank is None and rows[1].answerable is False
    assert len(result.recall_curve) == 10 and result.recall_curve[4] == 1.0


def test_retrieval_only_system_has_no_answer_metrics():
    result, _ = evaluate_questions("bm25", [Q_ANS], [SystemOutput.from_ranked([(COST, "688088", "p3")])])
    assert result.metrics["citation_hit"] is None
    assert result.metrics["abstention_accuracy"] is None
    assert result.metrics["latency_ms_p95"] is None
    assert result.metrics["recall@1"] == 0.5


def test_abstaining_on_answerable_counts_as_false_abstention():
    out = SystemOutput.from_ranked([(STAFF, "688088", "p2")], answer="", abstained=True)
    result, rows = evaluate_questions("s", [Q_ANS], [out])
    assert result.metrics["false_abstention_rate"] == 1.0
    assert result.metrics["citation_hit"] == 0.0
    assert rows[0].citation_hit is False


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 questions but 1 outputs"):
        evaluate_questions("s", [Q_ANS, Q_UNANS], [SystemOutput()])


def test_system_output_from_rag_answer():
    from irqa.rag.models import Answer, Citation, Hit, Passage

    passage = Passage(
        id="688088-2024-007#3",
        filing_id="688088-2024-007",
        company="虹软科技",
        code="688088",
        record_no="2024-007",
        date=None,
        section="narrative",
        text=STAFF,
        start=0,
        end=len(STAFF),
    )
    answer = Answer(
        question="研发人员？",
        answer="595人 [1]",
        abstained=False,
        passages=[Hit(passage=passage, score=0.9, rank=1)],
        citations=[
            Citation(
                n=1,
                filing_id="688088-2024-007",
                company="虹软科技",
                code="688088",
                record_no="2024-007",
                date=None,
                question="",
                quote="公司研发人员595人，占公司总人数的比例为63.64%",
                passage_id=passage.id,
                score=0.9,
            )
        ],
        timings_ms={"total": 42.0},
    )
    out = SystemOutput.from_answer(answer)
    assert out.latency_ms == 42.0 and out.passages[0].code == "688088"
    result, _ = evaluate_questions("engine", [Q_ANS], [out])
    assert result.metrics["hit@1"] == 1.0 and result.metrics["citation_hit"] == 1.0
