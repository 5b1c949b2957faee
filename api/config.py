"""What the HTTP layer needs to know, as plain values (``irqa.wiring`` builds it from settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiConfig:
    api_key: str | None = None  # when set, write endpoints require it
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API
    max_upload_bytes: int = 20 * 1024 * 1024
    max_question_chars: int = 2000
    max_passages_per_upload: int = 5000  # new passages one upload may add
    ingest_queue: int = 4  # writes waiting or running; more are refused with 503 busy
    ingest_wait_seconds: float = 30.0  # an upload answers 202 + job when its ingest takes longer
