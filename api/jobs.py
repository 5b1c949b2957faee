"""Writes (uploads, deletions) run on one writer thread, behind a bounded queue.

Before, every upload held one of Starlette's threadpool threads while it waited for the
engine's write lock; 45 queued uploads took all 40, and ``/healthz``, search and ask timed out
for minutes. Now a write is a ``Job`` on a single-thread executor: the request awaits it
without holding a thread, at most ``capacity`` jobs wait or run (more get 503 ``busy`` with
``Retry-After``), and a request that waited ``wait_seconds`` answers 202 with the job, which
``GET /v1/jobs/{id}`` reports until it is done.

An upload takes its place in the queue before its body is read (:meth:`WriteQueue.reserve`,
called by the upload reader): with the queue full it is refused at once, instead of after its
files were buffered — 16 concurrent 19 MB uploads into a full queue added 362 MB to the server
before each got its 503. The place is held in a context variable of the request's task, so the
``submit`` of the same request uses it; a request that fails before submitting gives it back.

A job whose client went away before it answered is cancelled: a queued one never starts, a
running one stops at the next embedding batch (``Cancelled`` from the progress callback) and
commits nothing, so the index stays as it was.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import threading
import uuid
import weakref
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


class Slot:
    """A place in the write queue taken before the job exists (an upload whose body is still
    arriving). ``submit`` in the same request turns it into the job's place; otherwise
    :meth:`release` gives it back — and so does the garbage collector, should a request end
    without either (the place must never leak: the queue would shrink for good)."""

    def __init__(self, queue: WriteQueue) -> None:
        self.queue = queue
        self._finalizer = weakref.finalize(self, queue._give_back)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        """Give the place back (again: nothing)."""
        self._finalizer()

    def _use(self) -> None:
        self._finalizer.detach()


#: the place this request's task reserved (``WriteQueue.reserve``), used by its ``submit``
_reserved: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("irqa_write_slot", default=None)


class WriteQueue:
    """A single writer thread with at most ``capacity`` jobs waiting or running (or reserved)."""

    def __init__(self, capacity: int, wait_seconds: float) -> None:
        self.capacity = capacity
        self.wait_seconds = wait_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="irqa-writer")
        self._lock = threading.Lock()
        self._active = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def _busy(self) -> ApiError:
        return ApiError(
            503,
            "busy",
            f"{self._active} writes are already queued or running (limit {self.capacity}, "
            f"IRQA_INGEST_QUEUE); retry in {RETRY_AFTER_S} s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def reserve(self) -> Slot:
        """Take a place for a write whose input is still arriving; 503 ``busy`` when none is
        free. The next :meth:`submit` of this request (task) uses it."""
        with self._lock:
            if self._active >= self.capacity:
                raise self._busy()
            self._active += 1
        slot = Slot(self)
        _reserved.set(slot)
        return slot

    def _give_back(self) -> None:
        with self._lock:
            self._active -= 1

    def submit(self, kind: str, work: Work) -> Job:
        slot = _reserved.get()
        with self._lock:
            if slot is not None and slot.queue is self and slot.held:
                slot._use()  # its place becomes the job's
                _reserved.set(None)
            elif self._active >= self.capacity:
                raise self._busy()
            else:
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
