"""irqa: question answering over Chinese investor-relations filings, with citations.

The code lives in four packages: ``rag`` (filings → passages → retrieval → answers),
``embeddings`` (models and the vector index), ``api`` (HTTP and the web page) and
``eval`` (datasets, metrics, reports). This package holds the settings, the CLI and the
wiring — and the front door, one call from settings to a working engine::

    import irqa

    engine = irqa.open_index("my-index")              # or irqa.open_index() for $IRQA_INDEX
    engine.ingest_paths(["filings/"])                  # PDF, DOCX, TXT 投资者关系活动记录表
    answer = engine.ask("虹软的Turbo Fusion视频功耗怎么样？")
    print(answer.answer)                               # quoted sentences with [n] markers
    print(answer.citations[0].filing_id, answer.citations[0].quote)

Any setting of :class:`Settings` (the ``IRQA_*`` variables, README "Configuration") can be
given as a keyword: ``irqa.open_index("my-index", embedder="e5", top_k=5)``. The names are
imported lazily, so ``import irqa`` (and the CLI) stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Engine", "Settings", "__version__", "open_index"]

if TYPE_CHECKING:
    from irqa.rag.engine import Engine
    from irqa.settings import Settings


def open_index(index: str | Path | None = None, **settings: Any) -> Engine:
    """The engine over the index at ``index`` (created on first ingest), configured by
    :class:`Settings` — the environment's ``IRQA_*`` values, overridden by ``settings``."""
    from irqa.settings import Settings
    from irqa.wiring import build_engine

    if index is not None:
        settings["index"] = Path(index).expanduser()
    return build_engine(Settings(**settings), resident=True)


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from irqa.rag.engine import Engine

        return Engine
    if name == "Settings":
        from irqa.settings import Settings

        return Settings
    raise AttributeError(f"module 'irqa' has no attribute {name!r}")
