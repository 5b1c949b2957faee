"""Embedding models and the vector index. Imports nothing from ``rag``, ``api`` or ``eval``."""

from embeddings.base import Embedder, load_embedder

__all__ = ["Embedder", "load_embedder"]
