"""Reading a multipart upload into memory with a hard byte limit, checked while reading.

Starlette's form parser spools large files to temporary files on disk; the project promise is
that nothing is written outside the index directory, and that an oversized upload is refused
before it is buffered. So the body is fed chunk by chunk to python-multipart and the count of
file bytes is checked on every chunk. File names are kept as display names only.

Before a byte of the body is kept, the upload takes its place in the write queue
(``WriteQueue.reserve``): a full queue answers 503 ``busy`` having buffered nothing (16
concurrent 19 MB uploads into a full queue used to add 362 MB first). The refused body is read
and dropped (up to ``limits.DRAIN_LIMIT`` / ``DRAIN_SECONDS``), so the client gets its 503
rather than a connection reset.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from irqa.api.errors import ApiError
from irqa.api.jobs import Slot, WriteQueue
from irqa.api.limits import DRAIN_LIMIT, DRAIN_SECONDS
from irqa.rag.ingest.pipeline import SUFFIXES, Source
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_FILES = 50


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


def display_name(raw: str) -> str:
    """The last path component of a client-supplied name, stripped of control characters."""
    name = PurePosixPath(raw.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "upload"


def too_large(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large", f"the upload is larger than the limit of {limit:,} bytes")


async def read_sources(request: Request, limit: int) -> list[Source]:
    """The uploaded files as ``Source``s; 4xx ``ApiError`` for anything the endpoint must refuse."""
    ctype, params = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(
            415, "unsupported_media_type", "send the files as multipart/form-data (field name 'files')"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large(limit)
    slot = await _reserve(request)
    try:
        return await _read(request, params, limit)
    except BaseException:
        if slot is not None:
            slot.release()
        raise


async def _reserve(request: Request) -> Slot | None:
    """A place in the write queue before the body is read; 503 ``busy`` (body drained) if none."""
    writes: WriteQueue | None = getattr(request.app.state, "writes", None)
    if writes is None:
        return None
    try:
        return writes.reserve()
    except ApiError:
        if request.headers.get("expect", "").lower() != "100-continue":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_drain(request), DRAIN_SECONDS)
        raise


async def _drain(request: Request) -> None:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > DRAIN_LIMIT:
            return


async def _read(request: Request, params: dict[bytes, bytes], limit: int) -> list[Source]:
    parts: list[_Part] = []
    header_field = bytearray()
    header_value = bytearray()
    file_bytes = 0

    def on_part_begin() -> None:
        if len(parts) >= MAX_FILES:
            raise ApiError(413, "too_many_files", f"at most {MAX_FILES} files per upload")
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal file_bytes
        file_bytes += end - start
        if file_bytes > limit:
            raise too_large(limit)
        parts[-1].data.extend(data[start:end])

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (ApiError, HTTPException):
        raise
    except Exception as e:  # python-multipart raises several error types on bad bodies
        raise ApiError(400, "malformed_upload", f"the multipart body could not be read: {e}") from None
    return _sources(parts)


def _sources(parts: list[_Part]) -> list[Source]:
    sources: list[Source] = []
    unsupported: list[str] = []
    for part in parts:
        _, disp = parse_options_header(part.headers.get(b"content-disposition", b""))
        filename = disp.get(b"filename")
        if filename is None:
            continue  # an ordinary form field
        name = display_name(filename.decode("utf-8", "replace"))
        if PurePosixPath(name).suffix.lower() not in SUFFIXES:
            unsupported.append(name)
            continue
        sources.append(Source(name=name, data=bytes(part.data)))
    if unsupported:
        raise ApiError(
            415,
            "unsupported_file_type",
            f"unsupported file type: {', '.join(unsupported)} (accepted: {', '.join(SUFFIXES)})",
        )
    if not sources:
        raise ApiError(422, "no_files", "the upload contains no files (send them in the 'files' field)")
    return sources
