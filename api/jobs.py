"""Writes (uploads, deletions) run on one writer thread, behind a bounded queue.

Before, every upload held one of Starlette's threadpool threads while it waited for the
engine's write lock; 45 queued uploads took all 40, and ``/healthz``, search and ask timed out
for minutes. Now a write is a ``Job`` on a single-thread executor: the request awaits it
without holding a thread, at most ``capacity`` jobs wait or run (more get 503 ``busy`` with
``Retry-After``), and a request that waited ``wait_seconds`` answers 202 with the job, which
``GET /v1/jobs/{id}`` reports until it is done.

A job whose client went away before it answered is cancelled: a queued one never starts, a
running one stops at the next embedding batch (``Cancelled`` from the progress callback) and
commits nothing, so the index stays as it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from irqa.api.errors import STATUS_OF_CODE, ApiError
from irqa.rag.errors import IrqaError
from starlette.requests import Request

#: what a job runs: given a ``check()`` to call between steps, it returns the JSON result
Work = Callable[[Callable[[], None]], dict[str, Any]]

RETRY_AFTER_S = 10
KEEP_FINISHED = 200


class Cancelled(Exception):
    """Raised inside a job's work when its client went away; nothing is committed."""


@dataclass
class Job:
    id: str
    kind: str  # "ingest" or "delete"
    created: dt.datetime
    status: str = "queued"  # queued → running → done | failed | cancelled
    result: dict[str, Any] | None = None
    error: ApiError | None = None
    future: Future | None = field(default=None, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    def check(self) -> None:
        if self.cancel_requested.is_set():
            raise Cancelled

    def out(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created": self.created.isoformat(),
            "url": f"/v1/jobs/{self.id}",
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = {"code": self.error.code, "message": str(self.error), "status": self.error.status}
            if failed := getattr(self.error, "failed", None):  # per-file reasons of an upload
                body["error"]["failed"] = failed
        return body


def as_api_error(e: BaseException) -> ApiError:
    """Any failure of a write, as the JSON error the client gets (never a plain-text 500)."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, IrqaError):
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return ApiError(STATUS_OF_CODE.get(e.code, 500), e.code, first)
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return ApiError(
        500,
        "write_failed",
        f"the write failed unexpectedly ({type(e).__name__}: {first}); the index is unchanged",
    )


class WriteQueue:
    """A single writer thread with at most ``capacity`` jobs waiting or running."""

    def __init__(self, capacity: int, wait_seconds: float) -> None:
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="irqa-writer")
        self._lock = threading.Lock()
        self._active = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def submit(self, kind: str, work: Work) -> Job:
        with self._lock:
            if self._active >= self.capacity:
                raise ApiError(
                    503,
                    "busy",
                    f"{self._active} writes are already queued or running (limit {self.capacity}, "
                    f"IRQA_INGEST_QUEUE); retry in {RETRY_AFTER_S} s",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            self._active += 1
            job = Job(uuid.uuid4().hex, kind, dt.datetime.now(dt.UTC))
            self._jobs[job.id] = job
            self._forget_old()
        job.future = self._executor.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        try:
            if job.cancel_requested.is_set():
                job.status = "cancelled"
                return
            job.status = "running"
            job.result = work(job.check)
            job.status = "done"
        except Cancelled:
            job.status = "cancelled"
        except BaseException as e:  # every failure is reported through the job, as JSON
            job.error = as_api_error(e)
            job.status = "failed"
        finally:
            with self._lock:
                self._active -= 1

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed", "cancelled")]
        for j in finished[: max(0, len(self._jobs) - KEEP_FINISHED)]:
            self._jobs.pop(j.id, None)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def wait(self, job: Job, request: Request, seconds: float | None = None) -> bool:
        """Wait for ``job`` up to ``seconds``; True when it finished. A client that disconnects
        while waiting cancels the job (its result would reach no one)."""
        assert job.future is not None
        done = asyncio.wrap_future(job.future)
        left = self.wait_seconds if seconds is None else seconds
        while left > 0:
            step = min(0.5, left)
            finished, _ = await asyncio.wait({done}, timeout=step)
            if finished:
                return True
            left -= step
            if await request.is_disconnected():
                self.cancel(job)
                return False
        return done.done()

    def cancel(self, job: Job) -> None:
        """Stop ``job``: a queued one never starts (and frees its place at once), a running one
        stops at its next check and commits nothing."""
        job.cancel_requested.set()
        if job.future is not None and job.future.cancel():
            job.status = "cancelled"
            with self._lock:
                self._active -= 1

    def shutdown(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel_requested.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
