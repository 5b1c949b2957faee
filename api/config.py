"""What the HTTP layer needs to know, as plain values (``irqa.wiring`` builds it from settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiConfig:
    api_key: str | None = None  # when set, write endpoints require it
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API
    max_upload_bytes: int = 20 * 1024 * 1024
    max_question_chars: int = 2000
