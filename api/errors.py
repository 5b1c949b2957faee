"""One error shape for every 4xx/5xx: ``{"error": {"code": ..., "message": ...}}``.

Clients (the web page, scripts, OpenAI-style chat clients) branch on ``code`` and show
``message`` to a person, so the message says what is wrong in one line.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from irqa.rag.errors import IrqaError, QuestionTooLong
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(IrqaError):
    """An error raised by the HTTP layer itself, with its status and a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


#: the library's error codes (``IrqaError.code``) → HTTP status; anything else is a 500
STATUS_OF_CODE = {
    "invalid_question": 422,
    "empty_question": 422,
    "question_too_long": 413,
    "invalid_filing": 422,
    "not_a_filing": 422,
    "index_unavailable": 503,
    "index_corrupt": 503,  # a segment file fails its checksum: `irqa index check`, then rebuild
    "model_mismatch": 503,
    "index_locked": 503,  # another process holds a Milvus Lite file (rag.store.milvus.LiteFileBusy)
    "storage_full": 507,
    "storage_error": 500,
}


def error_body(code: str, message: str, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _message(e: IrqaError) -> str:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    if isinstance(e, QuestionTooLong):
        return f"{first} (max_question_chars={e.limit})"
    return first


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "not_ready",
}


def _describe(errors: list[dict]) -> str:
    """Pydantic's error list as one readable line: ``body.k: must be ≤ 100; body: invalid JSON``."""
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        if e.get("type") == "json_invalid":
            parts.append(f"malformed JSON: {e.get('ctx', {}).get('error', e.get('msg'))}")
        else:
            parts.append(f"{loc}: {e.get('msg')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Route FastAPI's own errors and ours into the one JSON shape."""

    @app.exception_handler(IrqaError)
    async def _irqa(_: Request, e: IrqaError) -> JSONResponse:
        if isinstance(e, ApiError):
            return JSONResponse(error_body(e.code, str(e)), status_code=e.status, headers=e.headers)
        status = STATUS_OF_CODE.get(e.code, 500)
        return JSONResponse(error_body(e.code, _message(e)), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = list(e.errors())
        malformed = any(x.get("type") == "json_invalid" for x in errors)
        code, status = ("malformed_json", 400) if malformed else ("invalid_request", 422)
        return JSONResponse(error_body(code, _describe(errors)), status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        # Starlette still logs the traceback and closes the connection; the client gets JSON.
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return JSONResponse(
            error_body("internal_error", f"unexpected server error: {first}"), status_code=500
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(e.status_code, "error")
        return JSONResponse(
            error_body(code, str(e.detail)), status_code=e.status_code, headers=getattr(e, "headers", None)
        )
