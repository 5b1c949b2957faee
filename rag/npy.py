"""Memory-map ``.npy`` files safely from request threads.

numpy reads a ``.npy`` header with ``ast.literal_eval``. CPython 3.11 keeps the AST constructor's
recursion depth in interpreter-wide state, so two threads building AST objects at once can fail
with ``SystemError: AST constructor recursion depth mismatch`` (python/cpython gh-106905 and the
reports around it, all from threaded programs). The server opens a new segment's arrays lazily,
on the first requests after an upload — several at once under load: ``scripts/load_test.py`` saw
about one such HTTP 500 in 2,500 requests, every traceback ending in ``np.load``.
One lock around the header read serializes just that (microseconds); the mapping is shared.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np

#: guards numpy's header parse (see the module docstring); held for microseconds per array
_HEADER_LOCK = threading.Lock()


def open_npy(path: Path) -> np.ndarray:
    """``np.load(path, mmap_mode="r")``, one thread at a time."""
    with _HEADER_LOCK:
        return np.load(path, mmap_mode="r")


def load_npy(data: bytes) -> np.ndarray:
    """A ``.npy`` file's bytes, already read, as an array (no pickles), one thread at a time."""
    with _HEADER_LOCK:
        return np.load(io.BytesIO(data), allow_pickle=False)
