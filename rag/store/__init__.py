"""Where the index lives: the store interface, its factory and the local backend.

- ``base``: :class:`Store` (write side) and :class:`StoreView` (read/search side), ``Filters``,
  ``Manifest``, ``Upsert`` — what every backend implements.
- ``factory``: ``open_store(uri)`` picks a backend by scheme (``IRQA_STORE``).
- ``local``: the default folder store (append-only segments, tombstones, atomic generations).
- ``memory``: ``Snapshot``, an in-memory view for evaluation corpora and benchmarks.
"""

from irqa.rag.store.base import Filters, Manifest, Mode, Store, StoreView, Upsert
from irqa.rag.store.factory import open_store
from irqa.rag.store.local import KEEP_GENERATIONS, LocalStore
from irqa.rag.store.memory import Snapshot

__all__ = [
    "KEEP_GENERATIONS",
    "Filters",
    "LocalStore",
    "Manifest",
    "Mode",
    "Snapshot",
    "Store",
    "StoreView",
    "Upsert",
    "open_store",
]
