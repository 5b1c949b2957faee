"""The Milvus store against a real ``milvus-lite server`` on 127.0.0.1 (started once per session):
same passages, same rankings as the local store, filters, replace, delete, a second client."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from irqa.rag.engine import Engine
from irqa.rag.store import Filters, open_store
from irqa.rag.store.milvus import MilvusStore, filter_expr, lexical_text, term_code

from tests.helpers import ARCSOFT, HIKVISION, INSTA360, make_config
from tests.services import milvus_lite_server

QUERIES = [
    "视频 功耗",
    "what did 虹软 say about Turbo Fusion video power draw",
    "海康威视 创新业务 萤石",
    "全景相机 出货量",
]


@pytest.fixture(scope="session")
def milvus_address(tmp_path_factory):
    """``HOST:PORT`` of a Milvus Lite server in its own process (several clients may connect)."""
    with milvus_lite_server(tmp_path_factory.mktemp("milvus")) as address:
        yield address


@pytest.fixture
def milvus_engine(milvus_address, tmp_path, cache_dir, embedder) -> Engine:
    prefix = "t" + uuid.uuid4().hex[:8]  # a collection set of this test's own
    return Engine(
        make_config(tmp_path / "index", cache_dir, store=f"milvus://{milvus_address}/{prefix}"), embedder
    )


def _ranking(engine: Engine, q: str, **kw) -> list[str]:
    return [h.passage.id for h in engine.search(q, 10, **kw)]


def test_lexical_codes_and_filter_expressions():
    assert term_code("功耗") == term_code("功耗") != term_code("#功耗")
    assert term_code("功耗").isalnum() and term_code("功耗").isascii()
    assert lexical_text(["a", "b"]).count(" ") == 1
    f = Filters(codes=["688088"], date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
    expr = filter_expr(f)
    assert 'code in ["688088"]' in expr and f"date >= {dt.date(2024, 1, 1).toordinal()}" in expr
    assert "date >= 0" in expr  # filings without a date never pass a date_to filter (as locally)
    assert filter_expr(Filters()) == ""
    store = open_store("milvus://user:pw@db.example:19531/irqa_prod?index=HNSW&ef=128")
    assert isinstance(store, MilvusStore)
    assert (store.client_uri, store.token, store.prefix) == (
        "http://db.example:19531",
        "user:pw",
        "irqa_prod",
    )
    assert store.index_params()["index_type"] == "HNSW" and store.search_params(10) == {"ef": 128}


def test_milvus_store_matches_the_local_store(milvus_engine, sample_engine, embedder, milvus_address):
    report = milvus_engine.ingest_paths([HIKVISION, ARCSOFT, INSTA360])  # the sample index's order
    assert sorted(report.added) == sorted(f.id for f in sample_engine.filings())
    local, remote = sample_engine.snapshot(), milvus_engine.snapshot()
    assert len(remote) == len(local) and remote.slots == len(local)
    assert [p.id for p in remote.passages] == [p.id for p in local.passages]
    assert [s.model_dump() for s in milvus_engine.filings()] == [
        s.model_dump() for s in sample_engine.filings()
    ]
    assert milvus_engine.filing("688088-2024-007").text == sample_engine.filing("688088-2024-007").text
    assert np.allclose(remote.vectors, local.vectors, atol=2e-3)  # local keeps fp16, Milvus fp32

    for q in QUERIES:  # irqa's fusion over Milvus candidates ranks as it does over local ones
        mine, theirs = _ranking(milvus_engine, q), _ranking(sample_engine, q)
        assert mine[:3] == theirs[:3] and len(set(mine) & set(theirs)) >= 8, q
    # BM25 through Milvus: its top rows, and exact scores of any other row the fusion asks about
    tokens = remote.analyzer.tokenize("视频应用的功耗压力")
    assert remote.analyzer.names == local.analyzer.names  # the same analyzer over the same companies
    every = remote.bm25(tokens, None)  # Milvus' scores of all matching rows
    lex = remote.lexical(tokens, 5, None)
    assert len(lex.rows) == 5 and np.allclose(lex.scores, np.sort(every)[::-1][:5], rtol=1e-4)
    others = np.setdiff1d(np.flatnonzero(every), lex.rows)[:20]
    assert len(others) and np.allclose(lex.score_of(others), every[others], rtol=1e-4)
    assert lex.score_of(np.flatnonzero(every == 0)[:3]).tolist() == [0.0] * 3
    terms = ["功耗", "视频", "萤石", "海康威视", "全景相机", "贵州茅台", "茅台酒"]
    known = [remote.knows(t) for t in terms]
    assert known == [local.knows(t) for t in terms] and any(known) and not all(known)

    # filters are Milvus expressions and restrict both retrievers
    hits = milvus_engine.search("视频 功耗", 10, company="海康威视")
    assert hits and {h.passage.code for h in hits} == {"002415"}
    late = milvus_engine.search("公司 业务", 10, date_from=dt.date(2025, 1, 1))
    assert late and {h.passage.filing_id for h in late} == {"688775-2025-003"}
    rows = remote.allowed(Filters(codes=["688088"]))
    assert len(rows) == sum(p.code == "688088" for p in local.passages)
    ans = milvus_engine.ask("what did 虹软 say about Turbo Fusion video power draw")
    assert not ans.abstained and ans.citations[0].filing_id == "688088-2024-007"

    # replace one filing, delete another: the old rows vanish, a second client sees the same
    edited = milvus_engine.config.index.parent / ARCSOFT.name
    edited.write_text(ARCSOFT.read_text(encoding="utf-8").replace("功耗", "能耗"), encoding="utf-8")
    assert milvus_engine.ingest_paths([edited]).updated == ["688088-2024-007"]
    assert milvus_engine.delete("688775-2025-003")
    view = milvus_engine.snapshot()
    assert sorted(view.manifest.filings) == ["002415-2023-4-15", "688088-2024-007"]
    assert len(view) == len(view.live_rows()) == sum(s.passages for s in milvus_engine.filings())
    assert view.slots > len(view)  # replaced rows got new numbers; the old ones are gone
    other = Engine(milvus_engine.config, embedder)
    assert other.snapshot().generation == view.generation
    assert "能耗" in other.filing("688088-2024-007").text
    assert not other.search("全景相机 出货量", 10, company="影石创新")
    assert other.search("能耗", 3)[0].passage.filing_id == "688088-2024-007"

    # a restarted server (or a reopened Lite file) has the collections released: still readable
    store = other.store
    for name in (store.passages, store.filings, store.meta):
        store.client.release_collection(name)
    reopened = Engine(milvus_engine.config, embedder)
    assert reopened.search("能耗", 3)[0].passage.filing_id == "688088-2024-007"
