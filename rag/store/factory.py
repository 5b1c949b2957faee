"""Open a store from a URI, importing only that backend (txtai-style lazy registry).

- ``local:PATH`` or a bare path: the folder store (``irqa.rag.store.local``), the default.
- ``milvus://HOST:PORT[/COLLECTION]``: a Milvus server or cluster — extension point.
- ``milvus-lite:PATH``: an embedded Milvus Lite file — extension point.

A backend module exposes ``create(uri: str, target: str) -> Store``; add it to ``BACKENDS``.

Example::

    >>> open_store("local:/tmp/index").uri
    'local:/tmp/index'
    >>> open_store("redis://x")
    Traceback (most recent call last):
    ...
    irqa.rag.errors.StoreError: unknown store 'redis://x'; known schemes: local, milvus, milvus-lite
"""

from __future__ import annotations

import importlib
from pathlib import Path

from irqa.rag.analysis import JiebaDictionary
from irqa.rag.errors import StoreError
from irqa.rag.store.base import Store

#: scheme → "module:function"; the module is imported only when a store of that scheme is opened
BACKENDS: dict[str, str] = {
    "local": "irqa.rag.store.local:create",
    "milvus": "irqa.rag.store.milvus:create",
    "milvus-lite": "irqa.rag.store.milvus:create_lite",
}


def parse_uri(uri: str | Path) -> tuple[str, str]:
    """``"local:/x"`` → ("local", "/x"); ``"milvus://h:19530"`` → ("milvus", "h:19530"); a path → local."""
    text = str(uri)
    scheme, sep, rest = text.partition(":")
    if not sep or "/" in scheme or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        return "local", text
    return scheme, rest[2:] if rest.startswith("//") else rest


def open_store(uri: str | Path, dictionary: JiebaDictionary | None = None) -> Store:
    """The store at ``uri``; its analyzers read jieba's dictionary as ``dictionary`` says."""
    scheme, target = parse_uri(uri)
    spec = BACKENDS.get(scheme)
    if spec is None:
        raise StoreError(f"unknown store {str(uri)!r}; known schemes: {', '.join(BACKENDS)}")
    module, _, func = spec.partition(":")
    try:
        create = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise StoreError(f"the {scheme!r} store backend is not available here ({e})") from e
    store = create(str(uri), target)
    if dictionary is not None:
        store.dictionary = dictionary
    return store
