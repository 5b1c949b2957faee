"""``GET /v1/timeline``: what a company said about a topic in each of its records, in date order.

The same answer as ``irqa timeline --json`` (``TimelineOut``, built by ``irqa.rag.timeline``): per
record the best quote with its citation, or not discussed, and the figures that changed since the
previous record that discussed it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from irqa.api.deps import Ready, check_dates
from irqa.api.errors import ApiError
from irqa.api.schemas import TimelineOut, error_responses
from irqa.rag.timeline import UnknownCompany, timeline

router = APIRouter(tags=["timeline"])


@router.get(
    "/v1/timeline",
    response_model=TimelineOut,
    summary="A company's statements on a topic, record by record, cited",
    responses=error_responses(404, 413, 422, 503),
)
def get_timeline(
    eng: Ready,
    company: Annotated[str, Query(description="Code, short name or alias of an indexed company.")],
    topic: Annotated[str, Query(description="What it said about, e.g. 1.6T, 液冷, 泰国工厂.")],
    date_from: Annotated[dt.date | None, Query(description="Records on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[dt.date | None, Query(description="Records on or before (YYYY-MM-DD).")] = None,
) -> TimelineOut:
    check_dates(date_from, date_to)
    try:
        return TimelineOut.of(timeline(eng, company, topic, date_from, date_to))
    except UnknownCompany as e:
        raise ApiError(404, e.code, str(e)) from None
