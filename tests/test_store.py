"""The store interface and the local segment store: BM25 equal to bm25s, incremental writes
equal to a rebuild, compaction, the factory."""

from __future__ import annotations

import numpy as np
import pytest
from irqa.rag.engine import Engine
from irqa.rag.errors import StoreError
from irqa.rag.lexical import K1, B, TermMatrix, bm25_scores
from irqa.rag.store import LocalStore, open_store
from irqa.rag.store.factory import parse_uri

from tests.helpers import ARCSOFT, HIKVISION, INSTA360, Bm25sReference, make_config

QUERIES = [
    "视频 功耗",
    "what did 虹软 say about Turbo Fusion video power draw",
    "海康威视 创新业务 萤石",
    "全景相机 出货量",
]


def _tokens(engine: Engine) -> list[list[str]]:
    snap = engine.snapshot()
    return [snap.analyzer.tokenize(p.embed_text()) for p in snap.passages]


def test_bm25_matches_bm25s_over_live_rows(sample_engine):
    toks = _tokens(sample_engine)
    tokenize = sample_engine.snapshot().analyzer.tokenize
    reference = Bm25sReference(toks, K1, B)
    mine = TermMatrix.build(toks)
    for q in QUERIES:
        expected = reference.scores(tokenize(q))
        (got,) = bm25_scores([(mine, None)], tokenize(q))
        assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), q
    # two parts with dead rows score like one bm25s index of the live rows alone
    half = len(toks) // 2
    a, b = TermMatrix.build(toks[:half]), TermMatrix.build(toks[half:])
    live_a = np.ones(half, bool)
    live_a[::3] = False
    kept = [t for i, t in enumerate(toks[:half]) if live_a[i]] + toks[half:]
    reference = Bm25sReference(kept, K1, B)
    for q in QUERIES:
        sa, sb = bm25_scores([(a, live_a), (b, None)], tokenize(q))
        assert not sa[~live_a].any(), "dead rows never score"
        assert np.allclose(
            np.concatenate([sa[live_a], sb]), reference.scores(tokenize(q)), rtol=1e-5, atol=1e-5
        )


def _ranking(engine: Engine, q: str) -> list[tuple[str, float]]:
    return [(h.passage.id, round(h.score, 4)) for h in engine.search(q, 10)]


def test_incremental_writes_equal_a_rebuild_and_compaction_keeps_results(tmp_path, cache_dir, embedder):
    inc = Engine(make_config(tmp_path / "inc", cache_dir), embedder)
    inc.ingest_paths([INSTA360, ARCSOFT])
    inc.ingest_paths([HIKVISION])
    # replace one filing: its old rows become tombstones, the new ones a new segment
    edited = tmp_path / ARCSOFT.name
    edited.write_text(ARCSOFT.read_text(encoding="utf-8").replace("功耗", "能耗"), encoding="utf-8")
    assert inc.ingest_paths([edited]).updated == ["688088-2024-007"]
    m = inc.store.read_manifest()
    assert len(m.segments) == 3, "one segment per write"
    assert list(m.deleted) == ["seg-000001"] and len(m.deleted["seg-000001"]) > 10, (
        "replaced rows are tombstones"
    )
    assert len(inc.snapshot()) == m.passages

    full = Engine(make_config(tmp_path / "full", cache_dir), embedder)
    full.ingest_paths([INSTA360, HIKVISION, edited])
    assert len(full.store.read_manifest().segments) == 1
    assert len(full.snapshot()) == len(inc.snapshot())
    for q in [*QUERIES, "能耗"]:
        assert _ranking(inc, q) == _ranking(full, q), q

    before = {q: _ranking(inc, q) for q in QUERIES}
    with inc.store.lock():
        inc.store.compact()
    m = inc.store.read_manifest()
    assert len(m.segments) == 1 and not m.deleted
    assert sorted(f.id for f in inc.filings()) == sorted(f.id for f in full.filings())
    again = Engine(inc.config, embedder)  # a fresh reader of the compacted generation
    for q in QUERIES:
        assert _ranking(again, q) == before[q], q
    assert again.filing("688088-2024-007").text == full.filing("688088-2024-007").text
    assert [p.id for p in again.passages_of("688775-2025-003")] == [
        p.id for p in full.passages_of("688775-2025-003")
    ]


def test_filters_and_deletes_through_the_interface(sample_engine):
    view = sample_engine.snapshot()
    from irqa.rag.store import Filters

    rows = view.allowed(Filters(codes=["688088"]))
    assert len(rows) and all(view.passage(int(r)).code == "688088" for r in rows[:20])
    qv = sample_engine.embedder.embed_queries(["视频 功耗"])
    got, scores = view.dense(qv, 5, rows)
    assert set(got.tolist()) <= set(rows.tolist()) and np.all(np.diff(scores) <= 1e-6)
    assert np.allclose(view.cosines(qv, got), scores, atol=1e-3)
    assert view.stats()["passages"] == len(view) > 100


def test_factory_schemes(tmp_path):
    assert parse_uri("local:/x/y") == ("local", "/x/y")
    assert parse_uri("/x/y") == ("local", "/x/y")
    assert parse_uri("milvus://db:19530") == ("milvus", "db:19530")
    assert isinstance(open_store(f"local:{tmp_path}"), LocalStore)
    with pytest.raises(StoreError, match="unknown store"):
        open_store("redis://localhost")
    assert open_store("milvus://localhost:19530").uri == "milvus://localhost:19530"  # lazy: no connection yet


def test_an_ask_embeds_its_question_once(sample_engine, embedder):
    """The retriever and the answerer share one query vector (``MemoQueries``)."""
    from irqa.embeddings.memo import MemoQueries

    calls = []

    class Counting(type(embedder)):
        def __init__(self) -> None:  # share the loaded model, count query calls
            self.__dict__.update(embedder.__dict__)

        def embed_queries(self, texts):
            calls.append(list(texts))
            return embedder.embed_queries(texts)

    engine = Engine(sample_engine.config, embedder, Counting())
    assert isinstance(engine.query_embedder, MemoQueries)
    answer = engine.ask("what did 虹软 say about Turbo Fusion video power draw")
    assert not answer.abstained and len(calls) == 1, calls


def test_many_small_writes_are_merged_automatically(fresh_engine, monkeypatch):
    from irqa.rag.store import local

    monkeypatch.setattr(local, "MAX_SEGMENTS", 2)
    for path in (INSTA360, ARCSOFT):
        fresh_engine.ingest_paths([path])
    assert len(fresh_engine.store.read_manifest().segments) == 2
    fresh_engine.ingest_paths([HIKVISION])  # a third segment → past the limit → merged
    m = fresh_engine.store.read_manifest()
    assert len(m.segments) == 1 and not m.deleted
    assert len(fresh_engine.snapshot()) == m.passages > 150
    assert "688088" in {h.passage.code for h in fresh_engine.search("虹软 视频 功耗", 3)}
