"""Fast unit tests of filtering, fusion and answer selection with the hashing stand-in embedder.

The real-model tests (test_retrieval.py and others) stay the reference for quality; these check the
plumbing in well under a second each, so a broken filter or fusion shows up at once.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from irqa.rag.answer import AnswerParams
from irqa.rag.engine import Engine
from irqa.rag.retriever import FusionParams

from tests.helpers import SAMPLES, HashEmbedder, make_config


@pytest.fixture(scope="module")
def hash_engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("hash")
    # hashed bigrams give lower cosines than the real model: no similarity floor for abstaining
    engine = Engine(
        make_config(root / "index", root / "cache", answer=AnswerParams(abstain_below=0.0)), HashEmbedder()
    )
    report = engine.ingest_paths([SAMPLES])
    assert len(report.added) == 3
    return engine


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_company_filter_keeps_only_that_company(hash_engine, mode):
    hits = hash_engine.search("研发投入", 10, company="海康威视", mode=mode)
    assert hits and {h.passage.code for h in hits} == {"002415"}


def test_date_filter_excludes_filings_outside_the_range(hash_engine):
    hits = hash_engine.search("公司业务", 20, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
    assert hits and {h.passage.record_no for h in hits} == {"2024-007"}
    assert hash_engine.search("公司业务", 5, date_from=dt.date(2030, 1, 1)) == []


def test_hybrid_ranks_are_consecutive_and_scores_descend(hash_engine):
    hits = hash_engine.search("全景相机 运动相机", 10)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(h.dense is not None for h in hits)  # exact cosine for every returned hit


@pytest.mark.parametrize("method", ["score", "rrf"])
def test_fusion_methods_both_find_the_exact_wording(tmp_path, method):
    config = make_config(tmp_path / "index", tmp_path / "cache", fusion=FusionParams(method=method))
    engine = Engine(config, HashEmbedder())
    engine.ingest_paths([SAMPLES / "688088_arcsoft_2024-007.txt"])
    hits = engine.search("智能超域融合 视频应用 功耗", 5)
    assert any("功耗" in h.passage.text for h in hits[:3])


def test_answer_quotes_a_sentence_of_a_cited_passage(hash_engine):
    a = hash_engine.ask("虹软的Turbo Fusion视频功耗怎么样？")
    assert not a.abstained and a.citations
    c = a.citations[0]
    text = hash_engine.filing(c.filing_id).text
    assert text[c.start : c.end] == c.quote and c.code == "688088"


def test_unknown_company_is_refused_without_searching(hash_engine):
    a = hash_engine.ask("贵州茅台的分红计划是什么？")
    assert a.abstained and not a.citations


def test_big_view_bm25_prunes_common_terms_then_scores_exactly(hash_engine, monkeypatch):
    """On big views BM25 candidates come from the selective query terms only; every score it
    returns is still the exhaustive BM25 score, and the ranking is nearly the same (``irqa bench``
    measures the agreement at 1M passages)."""
    import numpy as np
    from irqa.rag.store import Filters
    from irqa.rag.store import view as view_module

    view = hash_engine.snapshot()
    tokens = view.analyzer.tokenize("公司的研发投入和全景相机的销量")  # 公司/的: in most passages
    exhaustive = view.bm25(tokens, None)
    exact = view.lexical(tokens, 20, None)
    monkeypatch.setattr(view, "pruning", view_module.LexicalPruning(exact_below=0, pool=30))
    pruned = view.lexical(tokens, 20, None)
    assert np.allclose(pruned.scores, exhaustive[pruned.rows], rtol=1e-5)
    some = np.arange(view.slots)
    assert np.allclose(pruned.score_of(some), exhaustive, rtol=1e-5, atol=1e-6)
    assert pruned.rows[0] == exact.rows[0]
    view.pruning.common_df = 1.0  # no common terms: the exhaustive ranking
    assert view.lexical(tokens, 20, None).rows.tolist() == exact.rows.tolist()
    allowed = view.allowed(Filters(codes=["002415"]))
    assert set(view.lexical(tokens, 5, allowed).rows.tolist()) <= set(allowed.tolist())
