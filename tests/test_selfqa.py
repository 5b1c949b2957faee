"""``irqa eval selfqa``: the records' own Q&A as the test set, on the sample records and real ones.

Everything is real: the sample index (real model, real FAISS/BM25), the masked snapshot built from
it, ``Engine.ask`` over it, and — when ../shared is present — two companies of the published
records with the shipped English/mixed questions.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from irqa.embeddings.cache import VectorCache
from irqa.eval.report import write_json
from irqa.eval.results import METRIC_KEYS
from irqa.eval.selfqa import (
    TRANSLATIONS,
    LeftOut,
    SelfQAError,
    Translation,
    about_other,
    load_translations,
    mask_corpus,
    run_selfqa,
    squash,
    write_html,
)
from irqa.rag.retriever import Retriever
from irqa.rag.store import Filters, Manifest, Snapshot
from typer.testing import CliRunner

from irqa.cli.evaluate import app as eval_app
from tests.helpers import ARCSOFT, REAL_FILINGS, needs_shared

#: a real investor question of the ArcSoft sample record, as an English speaker would ask it
ARCSOFT_EN = Translation(
    id="en-arcsoft-auto",
    lang="en",
    question="What concrete progress has ArcSoft made in its automotive business?",
    source=ARCSOFT.name,
    original="公司在汽车业务上有什么具体的进展？",
    name="ArcSoft",
)


@pytest.fixture(scope="module")
def masked(sample_engine, cache_dir):
    return mask_corpus(
        sample_engine.snapshot(), sample_engine.embedder, VectorCache(cache_dir / "vectors.sqlite")
    )


@pytest.fixture(scope="module")
def results(sample_engine):
    return run_selfqa(sample_engine, [ARCSOFT_EN], dataset="samples")


def _untimed(obj):
    """The JSON without what a clock decides (timestamps, latencies, run time)."""
    if isinstance(obj, dict):
        return {
            k: _untimed(v)
            for k, v in obj.items()
            if k not in ("created", "seconds", "latency_ms", "latencies_ms")
            and not k.startswith("latency_ms_")
        }
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def test_masked_index_lacks_the_investor_questions(sample_engine, masked):
    """The normal index embeds each answer with its question; the masked one holds the same texts
    and spans without it — in what is embedded, in the BM25 terms and in the passages themselves."""
    normal = list(sample_engine.snapshot().passages)
    shown = list(masked.view.passages)
    assert [p.id for p in shown] == [p.id for p in normal]
    asked = [p for p in normal if p.section == "qa" and len(squash(p.question)) >= 6]
    assert len(asked) > 30
    assert all(squash(p.question) in squash(p.embed_text()) for p in asked)  # what masking undoes
    analyzer = masked.view.analyzer
    for p, m in zip(normal, shown, strict=True):
        assert (m.text, m.start, m.end, m.filing_id) == (p.text, p.start, p.end, p.filing_id)
        if p.question:
            assert m.question == ""
            assert squash(p.question) not in squash(m.embed_text())
    assert [list(t) for t in masked.view.tokens] == [analyzer.tokenize(m.embed_text()) for m in shown]
    # vectors: header passages (no question) keep theirs, answers got new ones
    cos = np.sum(masked.view.vectors * sample_engine.snapshot().vectors, axis=1)
    header = np.asarray([p.section == "header" for p in normal])
    qa = np.asarray([bool(p.question) for p in normal])
    assert cos[header].min() > 0.999
    assert cos[qa].max() < 0.999
    assert len(masked.golds) >= 40 and not any(g.leaky for g in masked.golds)
    assert all(
        set(g.passage_ids) <= {p.id for p in shown if p.filing_id == g.filing_id} for g in masked.golds
    )


def test_left_out_record_is_gone_as_if_never_indexed(sample_engine, masked):
    """The tombstoned view finds nothing of the record even for its own text, and scores the rest
    exactly as a snapshot built without it (BM25 statistics included)."""
    view = masked.view
    shown = list(view.passages)
    fid = next(g.filing_id for g in masked.golds if g.code == "688088")
    rows = [i for i, p in enumerate(shown) if p.filing_id == fid]
    left = LeftOut(view, fid, rows)
    assert len(left) == len(view) - len(rows)
    assert fid not in {s.id for s in left.summaries()} and left.filing(fid) is None
    assert left.allowed(Filters(codes=["688088"])).size == 0
    q = shown[rows[3]].text  # the record's own words
    embedder = sample_engine.query_embedder
    hits = Retriever(left, embedder).search(q, 20)
    assert hits and all(h.passage.filing_id != fid for h in hits)
    assert Retriever(view, embedder).search(q, 1)[0].passage.filing_id == fid  # the full index finds it
    keep = [i for i in range(len(shown)) if i not in set(rows)]
    without = Snapshot(
        Manifest(embedder=view.manifest.embedder, dim=view.manifest.dim),
        {k: v for k, v in masked.filings.items() if k != fid},
        [shown[i] for i in keep],
        view.vectors[keep],
        [view.tokens[i] for i in keep],
        kind="flat",
        analyzer=view.analyzer,
    )
    tokens = view.analyzer.tokenize(q)
    np.testing.assert_allclose(left.bm25(tokens, None)[keep], without.bm25(tokens, None), rtol=1e-5)
    mine = [(h.passage.id, round(h.score, 5)) for h in Retriever(left, embedder).search(q, 10)]
    theirs = [(h.passage.id, round(h.score, 5)) for h in Retriever(without, embedder).search(q, 10)]
    assert mine == theirs


def test_samples_find_their_own_answers(results, masked):
    """On the sample records a masked question still finds its own answer in the top 5, the left-out
    record and other-company cases are refused, and every slice has the shared metric keys."""
    fig = results.figures
    zh = [g for g in masked.golds if not g.leaky]
    assert fig["lang:zh"]["answerable"] == len(zh)
    assert fig["all"]["hit@5"] >= 0.8
    assert fig["all"]["mrr@10"] >= 0.55
    assert fig["all"]["hit@5_or_copy"] >= fig["all"]["hit@5"]
    # each sample company has one record: left out, nothing of it is left, and nothing is dropped
    assert fig["all"]["leave_out_ambiguous"] == 0
    assert fig["all"]["leave_out"] == len(zh) + 1
    assert fig["all"]["unanswerable_refusal"] >= 0.8
    assert {f"company:{c}" for c in ("002415", "688088", "688775")} <= set(fig)
    assert [s.name for s in results.systems] == ["all", "zh", "en", "mixed"]
    assert all(set(s.metrics) == set(METRIC_KEYS) for s in results.systems)
    assert results.systems[0].metrics["citation_hit"] == fig["all"]["quote_in_answer"]
    # a quote counted inside its own answer is text of that answer's paragraphs; others are not
    rows = {r.id: r for r in results.rows}
    golds = {g.key: g for g in masked.golds}
    scored = [c for c in results.cases if c.kind == "answerable" and c.abstained is False]
    assert any(c.quote_in_answer for c in scored) and not all(c.quote_in_answer for c in scored)
    for c in scored:
        g = golds[c.gold]
        own = masked.filings[g.filing_id].text[g.start : g.end]
        quote = rows[c.id].answer.split("[1]")[0].strip()
        assert (quote in own) == c.quote_in_answer, c.id


def test_english_version_matches_its_gold_and_names_another_company(results):
    fig = results.figures["lang:en"]
    assert fig["answerable"] == 1 and results.meta["translations"]["matched"] == 1
    cases = {c.id: c for c in results.cases}
    own = cases["en:en-arcsoft-auto"]
    assert own.gold.startswith("688088-2024-007/") and own.company_filter is None
    other = next(r for r in results.rows if r.id == "en:en-arcsoft-auto:other_company")
    assert "ArcSoft" not in other.question
    assert ("Hikvision" in other.question) or ("Insta360" in other.question)
    # the Chinese question of the same segment is asked within its company (it names none)
    zh = cases[f"zh:{own.gold}"]
    assert zh.company_filter == "688088" and zh.original == "公司在汽车业务上有什么具体的进展？"


def test_other_company_question_names_the_other(sample_engine):
    resolver = sample_engine.live().resolver
    q = "海康在 2021 年提出三年的机遇期，经过近些年的变化，现在对三年机遇期怎么看？"
    assert about_other(q, "002415", "688088", resolver).startswith("虹软科技在 2021 年")
    assert about_other("公司在汽车业务上有什么具体的进展？", "688088", "688775", resolver) == (
        "影石创新在汽车业务上有什么具体的进展？"
    )
    assert about_other("汽车业务进展", "688088", "688775", resolver) == "影石创新：汽车业务进展"
    en = about_other(ARCSOFT_EN.question, "688088", "002415", resolver, ARCSOFT_EN.name)
    assert en == "What concrete progress has Hikvision made in its automotive business?"


def test_json_is_stable(sample_engine, results, tmp_path):
    """Two runs write the same JSON but for the clock; keys sorted, every case accounted for."""
    again = run_selfqa(sample_engine, [ARCSOFT_EN], dataset="samples")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(results, a)
    write_json(again, b)
    one, two = json.loads(a.read_text("utf-8")), json.loads(b.read_text("utf-8"))
    assert _untimed(one) == _untimed(two)
    assert one["kind"] == "selfqa"
    assert a.read_text("utf-8") == json.dumps(one, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    asked = {r["id"] for r in one["rows"]}
    assert asked == {c["id"] for c in one["cases"] if c["abstained"] is not None}
    write_html(results, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text("utf-8")
    assert "Self-QA figures" in page and "002415 海康威视" in page


def test_shipped_translations():
    items = load_translations(TRANSLATIONS)
    assert len(items) >= 80
    assert {t.lang for t in items} == {"en", "mixed"}
    assert sum(t.lang == "en" for t in items) >= 40 and sum(t.lang == "mixed" for t in items) >= 30
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for t in items:
        assert t.name and t.name in t.question and cjk.search(t.original), t.id
        if t.lang == "en":  # an English question naming the company in English
            assert t.name.isascii() and not cjk.search(t.question), t.id
        else:  # a Chinese name in an English question, or an English name in a Chinese one
            assert cjk.search(t.question) and re.search(r"[A-Za-z]{3}", t.question), t.id


def test_bad_translation_file_names_its_line(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"id": "x", "lang": "fr", "question": "q", "source": "s", "original": "o"}\n', "utf-8")
    with pytest.raises(SelfQAError, match=r"t.jsonl:1: lang"):
        load_translations(p)


def test_cli_selfqa_on_samples(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("IRQA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    from irqa.rag.engine import sample_dir

    result = CliRunner().invoke(
        eval_app,
        [
            "selfqa",
            str(sample_dir()),
            "--no-translations",
            "--json",
            str(tmp_path / "s.json"),
            "--html",
            str(tmp_path / "s.html"),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    body = json.loads((tmp_path / "s.json").read_text("utf-8"))
    assert body["kind"] == "selfqa" and body["figures"]["all"]["hit@5"] >= 0.8
    assert "hit@5" in result.output or "h@5" in result.output
    missing = CliRunner().invoke(eval_app, ["selfqa", "--index", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no index" in missing.output


real_records = pytest.mark.skipif(not REAL_FILINGS.is_dir(), reason=f"no real records at {REAL_FILINGS}")


@needs_shared
@real_records
def test_real_record_alone(fresh_engine):
    """One published record (北方华创's only one): its English/mixed questions all find their gold
    segment, and with the record left out every question is refused — no company is left."""
    folder = REAL_FILINGS / "002371_北方华创"
    assert len(fresh_engine.ingest_paths([folder]).added) == 1
    mine = [t for t in load_translations(TRANSLATIONS) if t.source.startswith("北方华创")]
    res = run_selfqa(fresh_engine, mine)
    assert res.meta["translations"]["matched"] == len(mine) >= 5
    fig = res.figures
    assert fig["lang:en"]["answerable"] + fig["lang:mixed"]["answerable"] == len(mine)
    assert fig["lang:zh"]["answerable"] >= 30
    assert fig["all"]["leave_out"] == fig["all"]["answerable"] and fig["all"]["leave_out_refusal"] == 1.0
    assert fig["all"]["other_company"] == 0  # no other company to ask about
    assert fig["all"]["hit@5"] >= 0.6


@pytest.mark.slow
@needs_shared
@real_records
def test_real_records_of_two_companies(fresh_engine):
    """北方华创 (one record) and 太辰光 (eight): their English/mixed questions all find their gold
    segment, every language is scored, and with its only record left out 北方华创 is refused."""
    folders = [REAL_FILINGS / "002371_北方华创", REAL_FILINGS / "300570_太辰光"]
    report = fresh_engine.ingest_paths(folders)
    assert not report.failed and len(report.added) == 9
    translations = load_translations(TRANSLATIONS)
    sources = {f.name for d in folders for f in d.iterdir()}
    mine = [t for t in translations if t.source in sources]
    assert len(mine) >= 15
    res = run_selfqa(fresh_engine, translations)
    assert res.meta["translations"]["matched"] == len(mine)
    fig = res.figures
    for lang in ("zh", "en", "mixed"):
        assert fig[f"lang:{lang}"]["answerable"] > 0
    assert fig["lang:en"]["answerable"] + fig["lang:mixed"]["answerable"] == len(mine)
    assert fig["all"]["hit@5"] >= 0.6
    naura = fig["company:002371"]
    assert naura["leave_out"] == naura["answerable"] and naura["leave_out_refusal"] == 1.0
    # 太辰光's records repeat themselves: some left-out cases are dropped as answered elsewhere
    assert fig["company:300570"]["leave_out_ambiguous"] > 0
    dropped = [c for c in res.cases if c.ambiguous]
    assert dropped and all(c.reason and c.abstained is None for c in dropped)
