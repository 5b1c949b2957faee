"""The analyzer belongs to the index: two indexes in one process tokenize and score as each does
alone, whatever the other loaded or ingested (issue 19 item 1)."""

from __future__ import annotations

import pickle

import pytest
from irqa.rag.analysis import Analyzer, JiebaDictionary
from irqa.rag.engine import Engine
from irqa.rag.errors import StoreError
from irqa.rag.store import LocalStore

from tests.helpers import ARCSOFT, HIKVISION, INSTA360, make_config

QUESTION = "虹软科技和海康威视对全景相机的看法"


def _lexical(engine: Engine, q: str) -> list[tuple[str, float]]:
    return [(h.passage.id, round(h.score, 6)) for h in engine.search(q, 10, mode="lexical")]


def test_two_indexes_in_one_process_keep_their_own_tokens_and_scores(tmp_path, cache_dir, embedder):
    alone = Engine(make_config(tmp_path / "insta", cache_dir), embedder)
    alone.ingest_paths([INSTA360])
    tokens, scores = alone.snapshot().analyzer.tokenize(QUESTION), _lexical(alone, QUESTION)
    assert "虹软科技" not in tokens and "影石创新" in alone.snapshot().analyzer.words("影石创新的产品")

    other = Engine(make_config(tmp_path / "others", cache_dir), embedder)
    other.ingest_paths([ARCSOFT, HIKVISION])  # teaches its analyzer 虹软科技 and 海康威视
    assert {"虹软科技", "海康威视"} <= set(other.snapshot().analyzer.tokenize(QUESTION))

    # the first index is untouched: same query tokens, same BM25 scores, also after a reload
    assert alone.snapshot().analyzer.tokenize(QUESTION) == tokens
    assert _lexical(alone, QUESTION) == scores
    reopened = Engine(make_config(tmp_path / "insta", cache_dir), embedder)
    assert reopened.snapshot().analyzer.tokenize(QUESTION) == tokens
    assert _lexical(reopened, QUESTION) == scores
    # and the index records the analyzer and companies that built it
    manifest = LocalStore(tmp_path / "insta").read_manifest()
    assert manifest.analyzer == Analyzer.spec and manifest.companies == ["影石创新"]


def test_an_index_built_by_another_analyzer_is_refused(tmp_path, cache_dir, embedder):
    engine = Engine(make_config(tmp_path / "index", cache_dir), embedder)
    engine.ingest_paths([INSTA360])
    store = LocalStore(tmp_path / "index")
    gen = store.root / store.current_generation() / "manifest.json"
    gen.write_text(gen.read_text(encoding="utf-8").replace(Analyzer.spec, "whitespace/1"), encoding="utf-8")
    with pytest.raises(StoreError, match=r"tokenized by 'whitespace/1'.*--rebuild"):
        store.load()


def test_an_analyzer_travels_by_value_and_adding_names_makes_a_new_one():
    a = Analyzer(JiebaDictionary(), ["影石创新"])
    b = pickle.loads(pickle.dumps(a))  # what a Ray worker receives
    assert b.names == a.names and b.tokenize(QUESTION) == a.tokenize(QUESTION)
    c = a.with_names(["虹软科技"])
    assert c is not a and "虹软科技" in c.words(QUESTION) and "虹软科技" not in a.words(QUESTION)
    assert a.with_names(["影石创新"]) is a
