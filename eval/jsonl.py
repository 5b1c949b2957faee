"""JSON-lines reading with errors that name the file and line: every JSONL input goes through here.

``records`` yields each line's object or its error (``irqa batch`` keeps going and writes an error
row); ``read_objects`` stops at the first bad line (dataset loaders).

Example::

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.jsonl"
    >>> _ = p.write_text('{"id": 1}' + chr(10) + 'not json' + chr(10) + '[1]', encoding="utf-8")
    >>> [(r.line, r.obj, r.error) for r in records(p)]  # doctest: +NORMALIZE_WHITESPACE
    [(1, {'id': 1}, None), (2, None, 'invalid JSON: Expecting value (column 1)'),
     (3, None, 'expected a JSON object, got list')]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Record:
    """One non-blank line: its number and either the object or a one-line reason it is not one."""

    line: int
    obj: dict | None
    error: str | None = None


def _lines(path: Path, error: type[Exception]) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 ({e.reason})") from None


def records(path: Path, error: type[Exception] = ValueError) -> Iterator[Record]:
    """Every non-blank line as a ``Record``; only an unreadable file raises ``error``."""
    for no, line in enumerate(_lines(path, error), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield Record(no, None, f"invalid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(obj, dict):
            yield Record(no, None, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield Record(no, obj)


def read_objects(path: Path, error: type[Exception]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; anything else raises ``error`` (one line)."""
    for r in records(path, error):
        if r.error is not None:
            raise error(f"{path}:{r.line}: {r.error}")
        assert r.obj is not None
        yield r.line, r.obj
