"""jieba's base word-frequency dictionary, loaded once per process and shared read-only.

Every :class:`~irqa.rag.analysis.Analyzer` tokenizes with a *copy* of this table (~15 ms, keys
shared) plus its own words, so nothing written by one index reaches another.

Two ways to hold it, chosen by the process's lifetime (``irqa.wiring`` decides):

- whole (``on_demand=False``): jieba's own marshal cache, ~500k words → frequency in one dict.
  Processes that tokenize a lot (ingest, the server, evaluation): a lookup costs ~50 ns.
- on demand (``on_demand=True``): the same table from a SQLite file written once beside the
  cache (``jieba.sqlite``, ~9 MB), each word read on first use. A one-shot ``irqa ask`` looks up
  a few hundred words, and loading the dict whole was about half of its cold start
  (eval/EXPERIMENTS.md, "Fast and lean, part 3"). Tokens are identical: jieba's own code runs over
  the same words and frequencies (``tests/test_jieba_dict.py``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


def source_stamp(path: str) -> str:
    """Identifies a jieba source dictionary by path, size and mtime."""
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


def quiet_jieba() -> Any:
    """jieba, imported with its "Building prefix dict" debug lines off (jieba's logger is set to
    DEBUG at import and prints to stderr: the one library setting irqa changes, logging only)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


#: loaded tables, shared read-only by every JiebaDictionary of the same source, cache and mode
_TABLES: dict[tuple[str, str | None, bool], tuple[Any, int]] = {}
_TABLES_LOCK = threading.Lock()


@dataclass(frozen=True)
class JiebaDictionary:
    """Where jieba's base dictionary comes from and how it is held (a value: picklable, so a Ray
    worker builds the same analyzer).

    ``cache_file``: jieba's marshal cache (irqa keeps it under its cache directory: see
    ``EngineConfig.dictionary``; None: no cache, the text file is read). ``source``: the dictionary
    text file (None: jieba's bundled one).
    """

    cache_file: Path | None = None
    on_demand: bool = False
    source: Path | None = None

    def source_path(self) -> str:
        if self.source is not None:
            return str(self.source)
        jieba = quiet_jieba()
        return os.path.join(os.path.dirname(jieba.__file__), jieba.DEFAULT_DICT_NAME)

    def table(self) -> tuple[Any, int]:
        """``(frequencies, total)``: a dict, or :class:`DiskFrequencies` when on demand. Never
        modify it: :meth:`copy` is what tokenizers get."""
        stamp = source_stamp(self.source_path())
        key = (stamp, str(self.cache_file) if self.cache_file else None, self.on_demand)
        with _TABLES_LOCK:
            found = _TABLES.get(key)
            if found is None:
                found = _TABLES[key] = self._load(stamp)
        return found

    def copy(self) -> tuple[Any, int]:
        """A table of one's own: words added to it change no other tokenizer."""
        freq, total = self.table()
        return freq.copy(), total

    def on_demand_in_use(self) -> bool:
        """Whether words are read from the SQLite table (False the first time: it was just written)."""
        return isinstance(self.table()[0], DiskFrequencies)

    def _load(self, stamp: str) -> tuple[Any, int]:
        if self.on_demand and self.cache_file is not None:
            db = self.cache_file.with_name("jieba.sqlite")
            total = read_total(db, stamp)
            if total is not None:
                return DiskFrequencies.open(db), total
            freq, total = self._load_whole()
            try:  # first time: keep the table for the next one-shot process
                write_table(db, freq, total, stamp)
            except (OSError, sqlite3.Error) as e:
                log.info("jieba dictionary table not written (%s): loading it whole each time", e)
            return freq, total
        return self._load_whole()

    def _load_whole(self) -> tuple[dict[str, int], int]:
        """jieba's own loader on a tokenizer of our own: through its marshal cache when there is a
        ``cache_file``; else straight from the text file (~1 s), so a library user's process
        writes nothing to ``$TMPDIR``."""
        jieba = quiet_jieba()
        tk = jieba.Tokenizer(str(self.source) if self.source else jieba.DEFAULT_DICT)
        if self.cache_file is None:
            with tk.get_dict_file() as f:
                return tk.gen_pfdict(f)
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tk.cache_file = str(self.cache_file.absolute())  # absolute: jieba joins a relative one onto $TMPDIR
        tk.initialize()
        return tk.FREQ, tk.total
