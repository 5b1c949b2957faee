"""jieba's word-frequency dictionary read from SQLite on demand, for processes that tokenize little.

Why: jieba keeps its dictionary (~500k words and prefixes → frequency) as one Python dict, loaded
whole from its marshal cache on first use — 0.6–0.8 s of CPU here, about half of a cold
``irqa ask``, which then looks up a few hundred words. A one-shot process instead reads the same
table from a SQLite file written once beside jieba's cache (``jieba.sqlite``, ~9 MB), each word
on first use. Tokens are identical: jieba's own code runs over the same words and frequencies
(``tests/test_jieba_dict.py`` compares both on the sample filings and FinTruthQA questions).
Processes that tokenize a lot (ingest, the server, evaluation) keep the in-memory dict: a lookup
there costs ~50 ns, here ~3 µs.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

#: the file is rebuilt when jieba's source dictionary changes (its size and mtime are recorded)
SCHEMA = 1
_UNSEEN = object()


class DiskFrequencies:
    """The subset of ``dict`` that ``jieba.Tokenizer`` uses on ``FREQ`` (``in``, ``[]``, ``get``,
    assignment by ``add_word``, ``copy``), over a read-only SQLite table plus in-memory additions."""

    def __init__(self, table: tuple[sqlite3.Connection, threading.Lock, dict], added: dict[str, int]) -> None:
        self._db, self._lock, self._seen = table  # the table never changes: one memo for all copies
        self._added = added

    @classmethod
    def open(cls, db: Path) -> DiskFrequencies:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        return cls((con, threading.Lock(), {}), {})

    def get(self, word: str, default: Any = None) -> Any:
        if word in self._added:
            return self._added[word]
        freq = self._seen.get(word, _UNSEEN)
        if freq is _UNSEEN:
            with self._lock:
                row = self._db.execute("SELECT f FROM freq WHERE w = ?", (word,)).fetchone()
            freq = self._seen[word] = row[0] if row else None
        return default if freq is None else freq

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        freq = self.get(word)
        if freq is None:
            raise KeyError(word)
        return freq

    def __setitem__(self, word: str, freq: int) -> None:
        self._added[word] = freq

    def copy(self) -> DiskFrequencies:
        """An independent dictionary: words added to the copy are not added here."""
        return DiskFrequencies((self._db, self._lock, self._seen), dict(self._added))


def source_stamp(jieba: Any) -> str:
    """Identifies jieba's source dictionary (default or user-set) by size and mtime."""
    path = jieba.dt.dictionary or os.path.join(os.path.dirname(jieba.__file__), jieba.DEFAULT_DICT_NAME)
    st = os.stat(path)
    return f"{SCHEMA}:{os.path.abspath(path)}:{st.st_size}:{int(st.st_mtime)}"


def read_total(db: Path, stamp: str) -> int | None:
    """The dictionary's total frequency if ``db`` is a finished table for ``stamp``, else None."""
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT k, v FROM meta").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return int(meta["total"]) if meta.get("stamp") == stamp and "total" in meta else None


def write_table(db: Path, freq: dict[str, int], total: int, stamp: str) -> None:
    """Write the table once (~2 s for jieba's default dictionary), atomically: another process sees
    the old file or the whole new one."""
    tmp = db.with_name(f".{db.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        con = sqlite3.connect(tmp)
        with con:
            con.execute("CREATE TABLE freq (w TEXT PRIMARY KEY, f INTEGER NOT NULL) WITHOUT ROWID")
            con.executemany("INSERT INTO freq VALUES (?, ?)", freq.items())
            con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
            con.executemany("INSERT INTO meta VALUES (?, ?)", [("stamp", stamp), ("total", str(total))])
        con.close()
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)
