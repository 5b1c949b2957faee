"""Server-sent events without an extra dependency: a few lines of framing over StreamingResponse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.responses import StreamingResponse

# a citation marker stays whole; other text goes out in short runs, the way a model would type it
_PIECES = re.compile(r"\[\d+\]|[^\[]{1,24}|\[")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def pieces(text: str) -> list[str]:
    """``text`` cut into streaming deltas; ``"".join(pieces(t)) == t``."""
    return _PIECES.findall(text)


def event(data: Any, name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{head}data: {body}\n\n".encode()


def response(events: Iterable[bytes] | Iterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)
