"""Filings: list, read one (with its text and passage spans), upload, delete; companies."""

from __future__ import annotations

from fastapi import APIRouter, Request
from irqa.api.deps import Config, Ready, Writer
from irqa.api.errors import ApiError
from irqa.api.schemas import CompaniesOut, DeleteOut, FilingOut, FilingsOut, IngestOut, error_responses
from irqa.api.uploads import read_sources
from starlette.concurrency import run_in_threadpool

router = APIRouter(tags=["filings"])


@router.get("/v1/filings", response_model=FilingsOut, summary="Indexed filings")
def list_filings(eng: Ready) -> FilingsOut:
    return FilingsOut(filings=eng.filings())


@router.get(
    "/v1/filings/{filing_id}",
    response_model=FilingOut,
    summary="One filing: header facts, normalized text, passages with character spans",
    responses=error_responses(404),
)
def get_filing(filing_id: str, eng: Ready) -> FilingOut:
    snap = eng.snapshot()  # one snapshot for the filing and its passages
    f = snap.filings.get(filing_id)
    if f is None:
        raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
    return FilingOut.of(f, snap.passages_of(f.id))


@router.post(
    "/v1/filings",
    response_model=IngestOut,
    summary="Upload filings (.txt/.pdf/.docx, multipart field 'files'); ingests incrementally",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                        },
                        "required": ["files"],
                    }
                }
            },
        }
    },
    responses=error_responses(400, 401, 413, 415, 422, 503),
)
async def upload(request: Request, eng: Writer, config: Config) -> IngestOut:
    sources = await read_sources(request, config.max_upload_bytes)
    report = await run_in_threadpool(eng.ingest_sources, sources)
    return IngestOut.of(report)


@router.delete(
    "/v1/filings/{filing_id}",
    response_model=DeleteOut,
    summary="Remove a filing and its passages",
    responses=error_responses(401, 404, 503),
)
def delete_filing(filing_id: str, eng: Writer) -> DeleteOut:
    if not eng.delete(filing_id):
        raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
    return DeleteOut(deleted=filing_id)


@router.get("/v1/companies", response_model=CompaniesOut, summary="Indexed companies")
def companies(eng: Ready) -> CompaniesOut:
    return CompaniesOut.model_validate({"companies": eng.companies()})
