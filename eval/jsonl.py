"""JSON-lines reading with errors that name the file and line, shared by every eval loader.

Example::

    >>> for no, obj in read_objects(Path("queries.jsonl"), ValueError):
    ...     print(no, obj["_id"])
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def read_objects(path: Path, error: type[Exception]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; anything else raises ``error`` (one line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 ({e.reason})") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise error(f"{path}:{no}: invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(obj, dict):
            raise error(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
        yield no, obj
