"""What the learned answer parts are trained and measured on, checked against the real answerer:
the features replay its rules exactly, the quote replay picks what it quotes, and an answerability
model never overrides a precise rule (issue 20 item 4). Real model, real index of the samples."""

from __future__ import annotations

import dataclasses
import json

import pytest
from irqa.eval import answerability as ans
from irqa.eval import quote_training as qt
from irqa.eval.selfqa import run_selfqa
from irqa.rag.answer import AnswerParams
from irqa.rag.answerability import FEATURES, MONOTONE, Answerability
from irqa.rag.engine import Engine
from irqa.rag.quote_scoring import QUOTE_FEATURES, QuoteWeights


@pytest.fixture(scope="module")
def every_unit_engine(sample_engine) -> Engine:
    """The sample index answered with every candidate sentence embedded (what the pools need)."""
    config = dataclasses.replace(
        sample_engine.config, answer=AnswerParams(embed_units=0), answerability="rules"
    )
    return Engine(config, sample_engine.embedder)


@pytest.fixture(scope="module")
def asked(every_unit_engine):
    out: list = []
    run_selfqa(every_unit_engine, (), max_questions=40, on_asked=out.append)
    return out


def test_features_replay_the_rules_exactly(asked):
    examples = ans.examples_from_selfqa(asked)
    assert {e.kind for e in examples} >= {"answerable", "leave_out"}
    assert all(set(e.features) == set(FEATURES) for e in examples)
    # the rules ablation is computed from the features: it must decide as the answerer did
    assert ans.replay_agreement(examples) == 1.0
    assert any(e.rules_answered for e in examples) and any(not e.rules_answered for e in examples)
    # JSONL round trip (the training script caches them)
    back = [ans.Example.from_json(json.loads(json.dumps(e.to_json()))) for e in examples]
    assert back == examples


def test_quote_replay_picks_what_the_answerer_quotes(asked):
    pools = qt.pools_from_selfqa(asked)
    by_id = {x.case.id: x for x in asked}
    checked = 0
    for pool in pools:
        x = by_id[pool.qid]
        if x.answer.abstained or not x.answer.citations:
            continue
        i = qt.choose(pool, QuoteWeights.hand().weights, embed_units=0)
        cand = x.assessments[0].candidates[i]
        cite = x.answer.citations[0]
        assert cite.start <= cand.span.start and cand.span.end <= cite.end, (pool.qid, cand.text, cite.quote)
        checked += 1
    assert checked >= 4
    # a pool's gold marks agree with the self-QA verdict on the answer's first quote
    assert any(any(p.gold) for p in pools)


def test_learned_weights_round_trip_and_refuse_other_features(tmp_path):
    w = QuoteWeights(tuple(0.01 * i for i in range(len(QUOTE_FEATURES))), meta={"run": "test"})
    path = tmp_path / "w.json"
    path.write_text(json.dumps(w.to_json()), encoding="utf-8")
    assert QuoteWeights.load(path) == w
    bad = {**w.to_json(), "features": ["cosine_only"]}
    with pytest.raises(ValueError, match="features"):
        QuoteWeights.from_json(bad)
    assert QuoteWeights.hand().evidence(dict.fromkeys(QUOTE_FEATURES, 1.0)) == pytest.approx(0.48)


def _constant_model(answer: bool) -> Answerability:
    """A real model whose probability is 0.5 everywhere; the threshold says yes or no."""
    n = len(FEATURES)
    return Answerability((0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, threshold=0.4 if answer else 0.6)


def _engine_with(sample_engine, tmp_path, model: Answerability) -> Engine:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    return Engine(dataclasses.replace(sample_engine.config, answerability=str(path)), sample_engine.embedder)


def test_a_model_never_overrides_a_precise_rule(sample_engine, tmp_path):
    yes = _engine_with(sample_engine, tmp_path, _constant_model(True))
    # the filings give 2022's dividend plan, not 2023's: a precise refusal, whatever the model says
    a = yes.ask("What is Hikvision's dividend plan for 2023?")
    assert a.abstained and "2023" in a.answer, a.answer
    # a question the rules answer: refused by a model that says no, answered by one that says yes
    q = "海康威视怎么看 Meta 的 SAM 模型？"
    assert not sample_engine.ask(q).abstained
    assert not yes.ask(q).abstained
    no = _engine_with(sample_engine, tmp_path, _constant_model(False))
    assert no.ask(q).abstained


def test_fit_keeps_the_rules_silence_and_the_weight_signs(asked):
    examples = ans.examples_from_selfqa(asked)
    model = ans.fit(examples)
    got = ans.decide(model, examples)
    negatives = [(e, a) for e, a in zip(examples, got, strict=True) if not e.answerable]
    assert sum(not a for _, a in negatives) >= sum(not e.rules_answered for e, _ in negatives)
    assert all(MONOTONE[f] * c >= -1e-9 for f, c in zip(model.features, model.coef, strict=True))
    shipped = Answerability.builtin()
    assert shipped is not None and shipped.features == FEATURES
    assert shipped.meta["leave_one_company_out"]["answerable"] > 1000  # trained on the real records
