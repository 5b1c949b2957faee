"""Filings: list, read one (with its text and passage spans), upload, delete; companies.

Uploads and deletions are jobs on the write queue (``irqa.api.jobs``): the request waits for
its job without holding a thread, answers 202 with the job when it takes longer than
``ingest_wait_seconds`` (or at once with ``Prefer: respond-async``), and 503 ``busy`` when the
queue is full. An upload in which no file could be ingested is an error (422), not a 200.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from irqa.api.deps import Config, Ready, Writer, Writes
from irqa.api.errors import ApiError, error_body
from irqa.api.jobs import Job, WriteQueue
from irqa.api.schemas import CompaniesOut, DeleteOut, FilingOut, FilingsOut, IngestOut, error_responses
from irqa.api.uploads import read_sources
from irqa.rag.engine import Engine
from irqa.rag.ingest.pipeline import IngestReport, Source

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
    responses={
        202: {"description": "Still ingesting: the job (`id`, `status`, `url`); poll `GET /v1/jobs/{id}`."},
        **error_responses(400, 401, 403, 413, 415, 422, 503, 507),
    },
)
async def upload(request: Request, eng: Writer, config: Config, writes: Writes) -> Any:
    sources = await read_sources(request, config.max_upload_bytes)
    job = writes.submit("ingest", _ingest_work(eng, sources, config.max_passages_per_upload))
    return await _answer(job, writes, request)


def _ingest_work(eng: Engine, sources: list[Source], max_passages: int):
    def work(check) -> dict[str, Any]:
        report = eng.ingest_sources(sources, max_passages=max_passages, progress=lambda *_: check())
        _refuse_if_nothing_landed(report)
        return IngestOut.of(report).model_dump(mode="json")

    return work


def _refuse_if_nothing_landed(report: IngestReport) -> None:
    if report.failed and not (report.added or report.updated or report.skipped):
        first = report.failed[0]
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise UploadFailed(f"no file was ingested: {first[0]}: {first[1]}{more}", report)


class UploadFailed(ApiError):
    """Every file of an upload failed: 422 with the per-file reasons in ``failed``."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(422, "no_filing_ingested", message)
        self.failed = [{"source": s, "error": e} for s, e in report.failed]


async def _answer(job: Job, writes: WriteQueue, request: Request) -> Any:
    wait = 0.0 if "respond-async" in request.headers.get("prefer", "") else None
    if not await writes.wait(job, request, wait):
        return JSONResponse(job.out(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})
    return job_response(job)


def job_response(job: Job) -> Any:
    """A finished job as its endpoint's answer: the result, or its error."""
    if job.error is not None:
        extra = {"failed": job.error.failed} if isinstance(job.error, UploadFailed) else {}
        return JSONResponse(
            error_body(job.error.code, str(job.error), **extra),
            status_code=job.error.status,
            headers=job.error.headers,
        )
    if job.status == "cancelled":
        return JSONResponse(
            error_body("cancelled", "the write was cancelled; nothing changed"), status_code=409
        )
    return job.result


@router.delete(
    "/v1/filings/{filing_id}",
    response_model=DeleteOut,
    summary="Remove a filing and its passages",
    responses=error_responses(401, 403, 404, 503, 507),
)
async def delete_filing(filing_id: str, request: Request, eng: Writer, writes: Writes) -> Any:
    def work(_check) -> dict[str, Any]:
        if not eng.delete(filing_id):
            raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
        return DeleteOut(deleted=filing_id).model_dump(mode="json")

    if filing_id not in eng.snapshot().filings:  # no need to queue behind uploads to say so
        raise ApiError(404, "not_found", f"no filing with id {filing_id!r}")
    return await _answer(writes.submit("delete", work), writes, request)


@router.get(
    "/v1/jobs/{job_id}",
    summary="A write job: queued, running, done (with its result), failed (with its error) or cancelled",
    responses=error_responses(404),
)
def get_job(job_id: str, writes: Writes) -> Any:
    job = writes.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job with id {job_id!r} (finished jobs are kept for a while)")
    return job.out()


@router.get("/v1/companies", response_model=CompaniesOut, summary="Indexed companies")
def companies(eng: Ready) -> CompaniesOut:
    return CompaniesOut.model_validate({"companies": eng.companies()})
