"""irqa as a LangChain retriever: hybrid search over the filings inside any LCEL chain.

``IrqaRetriever`` is a ``langchain_core`` ``BaseRetriever``. Each ``Document`` is one passage
(``page_content`` is its text) and its metadata says where it comes from — filing id, company,
stock code, record number, date, the investor question it answers, passage id, fused score and
the span (``start``/``end``) in the filing's normalized text (``GET /v1/filings/{id}``) — so a
chain can cite as precisely as irqa itself does. It lives in the wiring layer because it may
build its engine from the ``IRQA_*`` settings.

Example::

    >>> retriever = IrqaRetriever(engine=engine, k=4, company="虹软科技")  # or .from_settings(k=4, …)
    >>> chain = {"context": retriever | format_documents, "question": RunnablePassthrough()} | prompt | llm  # doctest: +SKIP
    >>> retriever.invoke("Turbo Fusion 视频功耗")[0].metadata["record_no"]
    '2024-007'
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from irqa.rag.engine import Engine
from irqa.rag.models import Hit


def document_of(hit: Hit) -> Document:
    """A ranked passage as a LangChain ``Document`` with irqa's citation facts as metadata."""
    p = hit.passage
    return Document(
        page_content=p.text,
        id=p.id,
        metadata={
            "filing_id": p.filing_id,
            "company": p.company,
            "code": p.code,
            "record_no": p.record_no,
            "date": p.date.isoformat() if p.date else None,
            "question": p.question,
            "section": p.section,
            "passage_id": p.id,
            "score": round(hit.score, 6),
            "rank": hit.rank,
            "start": p.start,
            "end": p.end,
        },
    )


def format_documents(docs: list[Document]) -> str:
    """Documents as numbered passages for a prompt: ``[n] company (code), record, date`` + text."""
    blocks = []
    for n, d in enumerate(docs, start=1):
        m = d.metadata
        head = f"[{n}] {m.get('company', '')} ({m.get('code', '')}), record {m.get('record_no', '')}, "
        head += str(m.get("date") or "undated")
        asked = f"\nInvestor question: {m['question']}" if m.get("question") else ""
        blocks.append(f"{head}{asked}\n{d.page_content.strip()}")
    return "\n\n".join(blocks)


class IrqaRetriever(BaseRetriever):
    """Passages from the indexed filings, ranked by irqa's dense + BM25 hybrid search.

    ``company`` (name, alias or code), ``date_from`` and ``date_to`` filter every query; the same
    keywords given to ``invoke(query, company=…)`` apply to that call only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Engine
    k: int = 5
    company: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_settings(cls, index: Path | None = None, **kwargs: Any) -> IrqaRetriever:
        """A retriever over ``$IRQA_INDEX`` (or ``index``), built from the sample filings if empty."""
        from irqa.runtime import prepare_process
        from irqa.settings import Settings
        from irqa.wiring import build_engine

        s = Settings() if index is None else Settings(index=index)
        prepare_process(s.cache_dir, s.threads)
        engine = build_engine(s, resident=True)
        engine.ensure_index()
        return cls(engine=engine, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        company: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        k: int | None = None,
    ) -> list[Document]:
        hits = self.engine.search(
            query,
            k or self.k,
            company=company or self.company,
            date_from=date_from or self.date_from,
            date_to=date_to or self.date_to,
        )
        return [document_of(h) for h in hits]
