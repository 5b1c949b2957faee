"""The plain LangChain pipeline a user might build instead of irqa, as a comparison baseline.

``RecursiveCharacterTextSplitter`` (500 characters, 50 overlap, Chinese sentence separators) over
raw texts → ``langchain_community.vectorstores.FAISS`` with the *same* embedding model wrapped
as a LangChain ``Embeddings`` → ``similarity_search_with_score``. No BM25, no company filter,
no answerer: only the embedding model is shared with irqa, so the comparison isolates what
irqa's chunking, hybrid retrieval and company resolution add.

Example::

    >>> lc = LangChainBaseline.build([("虹软：视频应用功能对于功耗的压力非常大。", {"code": "688088", "doc_id": "f1"})], embedder)
    >>> text, meta, distance = lc.search("虹软 视频 功耗", k=10)[0]   # (chunk text, metadata, L2 distance)
    >>> meta["code"]
    '688088'
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from irqa.embeddings.base import Embedder
from irqa.embeddings.cache import VectorCache, embed_with_cache

CHUNK_SIZE = 500
CHUNK_OVERLAP = 50
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", " ", ""]


def _langchain_embeddings_base():
    from langchain_core.embeddings import Embeddings

    return Embeddings


def make_embeddings(embedder: Embedder, cache: VectorCache | None = None) -> Any:
    """Wrap an irqa ``Embedder`` as a LangChain ``Embeddings`` (passages go through the cache)."""
    base = _langchain_embeddings_base()

    class IrqaEmbeddings(base):  # type: ignore[misc, valid-type]
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            vecs, _ = embed_with_cache(embedder, texts, cache)
            return vecs.tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_queries([text])[0].tolist()

    return IrqaEmbeddings()


def splitter():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE,
        chunk_overlap=CHUNK_OVERLAP,
        separators=SEPARATORS,
        keep_separator="end",
    )


class LangChainBaseline:
    """A FAISS vector store over split texts; ``search`` returns (text, metadata, distance)."""

    def __init__(self, store: Any, n_chunks: int) -> None:
        self.store = store
        self.n_chunks = n_chunks

    @classmethod
    def build(
        cls,
        docs: Sequence[tuple[str, dict]],
        embedder: Embedder,
        cache: VectorCache | None = None,
    ) -> LangChainBaseline:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.vectorstores import FAISS
        split = splitter()
        texts: list[str] = []
        metas: list[dict] = []
        for text, meta in docs:
            for i, chunk in enumerate(split.split_text(text)):
                texts.append(chunk)
                metas.append({**meta, "chunk": i})
        store = FAISS.from_texts(texts, make_embeddings(embedder, cache), metadatas=metas)
        return cls(store, len(texts))

    def search(self, query: str, k: int = 10) -> list[tuple[str, dict, float]]:
        k = max(1, min(k, self.n_chunks))
        if not self.n_chunks:
            return []
        found = self.store.similarity_search_with_score(query, k=k)
        return [(d.page_content, dict(d.metadata), float(s)) for d, s in found]

    def search_docs(self, query: str, k: int = 100, key: str = "doc_id") -> list[tuple[str, float]]:
        """Unique ``metadata[key]`` values, best chunk first (score = -distance, higher is better)."""
        out: dict[str, float] = {}
        for _, meta, dist in self.search(query, k=min(self.n_chunks, k * 2)):
            out.setdefault(str(meta[key]), -dist)
            if len(out) >= k:
                break
        return list(out.items())

    def vectors_bytes(self) -> int:
        """Bytes of the FAISS vectors (n × dim × 4)."""
        index = self.store.index
        return int(index.ntotal) * int(index.d) * np.dtype(np.float32).itemsize
