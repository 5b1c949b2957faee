"""Embedding models and the vector index. Imports nothing from ``rag``, ``api`` or ``eval``."""

from irqa.embeddings.base import Embedder
from irqa.embeddings.factory import load_embedder

__all__ = ["Embedder", "load_embedder"]
