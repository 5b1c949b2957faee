"""``/healthz`` (the process is up) and ``/readyz`` (the index is loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The index is loaded (503 until then)",
    responses={503: {"description": "Still building or loading the index."}},
)
def readyz(request: Request) -> JSONResponse:
    warmup = request.app.state.warmup
    st = warmup.status()
    if st["ready"]:
        snap = warmup.engine.snapshot()
        st |= {"filings": len(snap.filings), "passages": len(snap.passages)}
    return JSONResponse(st, status_code=200 if st["ready"] else 503)
