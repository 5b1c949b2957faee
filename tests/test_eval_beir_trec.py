"""BEIR loading on a tiny fixture, run scoring, and TREC run round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from irqa.eval.beir import BeirFormatError, evaluate_run, load_beir
from irqa.eval.trec import TrecFormatError, read_run, write_run

from tests.helpers import FINTRUTHQA, FINTRUTHQA_SLICE, needs_shared


def _beir(tmp_path: Path, qrels: str | None = None) -> Path:
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "a1", "title": "", "text": "公司2022年分红每10股派7元。"},
        {"_id": "a2", "title": "研发", "text": "研发人员595人。"},
        {"_id": 3, "title": "", "text": "感谢您的关注。"},
    ]
    queries = [{"_id": "q1", "text": "分红多少？"}, {"_id": "q2", "text": "研发人员多少？"}]
    (d / "corpus.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in corpus), "utf-8"
    )
    (d / "queries.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), "utf-8"
    )
    (d / "qrels" / "test.tsv").write_text(
        qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\ta1\t1\nq2\ta2\t1\nq2\t3\t0\n",
        "utf-8",
    )
    return d


def test_load_tiny_beir(tmp_path):
    ds = load_beir(_beir(tmp_path))
    assert ds.corpus == {
        "a1": ("", "公司2022年分红每10股派7元。"),
        "a2": ("研发", "研发人员595人。"),
        "3": ("", "感谢您的关注。"),
    }
    assert ds.queries == {"q1": "分红多少？", "q2": "研发人员多少？"}
    assert ds.qrels == {"q1": {"a1": 1}, "q2": {"a2": 1, "3": 0}}
    assert ds.name == "tiny"


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq1\ta1\n", r"test\.tsv:2: expected 3 tab-separated fields"),
        ("query-id\tcorpus-id\tscore\nq1\ta1\tyes\n", r"test\.tsv:2: score 'yes' is not an integer"),
        ("query-id\tcorpus-id\tscore\nq9\ta1\t1\n", "query 'q9' not in queries.jsonl"),
        ("query-id\tcorpus-id\tscore\nq1\tzz\t1\n", "doc 'zz'"),
    ],
)
def test_bad_qrels(tmp_path, qrels, message):
    with pytest.raises(BeirFormatError, match=message):
        load_beir(_beir(tmp_path, qrels))


def test_missing_files_and_bad_lines(tmp_path):
    with pytest.raises(BeirFormatError, match="not a directory"):
        load_beir(tmp_path / "nope")
    d = _beir(tmp_path)
    (d / "qrels" / "test.tsv").unlink()
    with pytest.raises(BeirFormatError, match="missing qrels"):
        load_beir(d)
    (d / "queries.jsonl").unlink()
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl: missing"):
        load_beir(d)
    d2 = _beir(tmp_path / "x")
    with (d2 / "corpus.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"_id": "a9", "text": 5}\n{"oops"\n')
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl:4: 'text' must be a string"):
        load_beir(d2)


def test_evaluate_run_on_tiny(tmp_path):
    ds = load_beir(_beir(tmp_path))
    run = {"q1": [("a2", 3.0), ("a1", 2.0)], "q2": [("a2", 5.0)]}
    result, rows = evaluate_run("bm25", ds, run, latencies_ms={"q1": 4.0, "q2": 6.0})
    assert result.metrics["mrr@10"] == pytest.approx(0.75)
    assert result.metrics["recall@1"] == pytest.approx(0.5)
    assert result.metrics["citation_hit"] is None
    assert result.metrics["latency_ms_p50"] == 5.0
    assert result.n_questions == 2 and len(result.recall_curve) == 100
    assert rows[0].hit_rank == 2 and [p.relevant for p in rows[0].passages] == [False, True]
    assert rows[0].passages[0].text == "研发 研发人员595人。"


@needs_shared
def test_load_shared_fintruthqa():
    ds = load_beir(FINTRUTHQA)
    assert (len(ds.corpus), len(ds.queries), len(ds.qrels)) == (5898, 1000, 1000)
    assert all(len(d) == 1 for d in ds.qrels.values())


def test_the_shipped_fintruthqa_slice_is_a_consistent_beir_set():
    ds = load_beir(FINTRUTHQA_SLICE)
    assert (len(ds.corpus), len(ds.queries), len(ds.qrels)) == (500, 200, 200)
    assert all(len(d) == 1 and set(d) <= set(ds.corpus) for d in ds.qrels.values())


def test_trec_round_trip(tmp_path):
    run = {"q1": [("d3", 12.5), ("d1", 9.0), ("d7", -0.125)], "q-2": [("a#1", 1e-9)]}
    p = tmp_path / "run.trec"
    write_run(p, run, tag="hybrid")
    lines = p.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "q1 Q0 d3 1 12.5 hybrid"
    assert lines[2].split() == ["q1", "Q0", "d7", "3", "-0.125", "hybrid"]
    assert read_run(p) == run


def test_trec_reader_sorts_by_rank_and_rejects_bad_lines(tmp_path):
    p = tmp_path / "run.trec"
    p.write_text("q1 Q0 b 2 1.0 t\nq1 Q0 a 1 2.0 t\n\n", encoding="utf-8")
    assert read_run(p) == {"q1": [("a", 2.0), ("b", 1.0)]}
    p.write_text("q1 Q0 a 1 2.0\n", encoding="utf-8")
    with pytest.raises(TrecFormatError, match=r"run\.trec:1: expected 6 fields"):
        read_run(p)
    p.write_text("q1 Q0 a one 2.0 t\n", encoding="utf-8")
    with pytest.raises(TrecFormatError, match="bad rank"):
        read_run(p)


def test_trec_writer_rejects_whitespace_ids(tmp_path):
    with pytest.raises(TrecFormatError, match="doc id"):
        write_run(tmp_path / "r.trec", {"q1": [("a b", 1.0)]}, tag="t")
    with pytest.raises(TrecFormatError, match="tag"):
        write_run(tmp_path / "r.trec", {"q1": [("a", 1.0)]}, tag="my run")
