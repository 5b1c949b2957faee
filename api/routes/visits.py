"""``GET /v1/visits``: who visited which company, from the header of every indexed record.

The same filters as ``irqa visits`` and the same answer (``VisitsOut``); ``?format=csv`` sends
its main table as CSV. The visits of one index generation are read once (``irqa.rag.visits``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from irqa.api.deps import Ready, check_dates
from irqa.api.errors import ApiError
from irqa.api.schemas import VisitsOut, error_responses
from irqa.rag.visits import UnknownFiling

router = APIRouter(tags=["visits"])


@router.get(
    "/v1/visits",
    response_model=VisitsOut,
    summary="Visits from the records' headers: who came when, companies an institution visited, counts",
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
        **error_responses(404, 422, 503),
    },
)
def list_visits(
    eng: Ready,
    company: Annotated[str | None, Query(description="Code or name of the visited company.")] = None,
    institution: Annotated[
        str | None, Query(description="Visiting institution; 景顺长城 matches 景顺长城基金管理有限公司.")
    ] = None,
    date_from: Annotated[dt.date | None, Query(description="Visits on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[dt.date | None, Query(description="Visits on or before (YYYY-MM-DD).")] = None,
    counts: Annotated[
        Literal["month", "type"] | None, Query(description="Per company per month, or per type.")
    ] = None,
    common: Annotated[
        list[str] | None, Query(description="Two filing ids: institutions at both meetings.")
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")] = "json",
) -> VisitsOut | Response:
    check_dates(date_from, date_to)
    if common is not None and len(common) != 2:
        raise ApiError(422, "invalid_request", f"common takes two filing ids, got {len(common)}")
    try:
        report = VisitsOut.build(
            eng.visits(),
            company=company,
            institution=institution,
            date_from=date_from,
            date_to=date_to,
            counts=counts,
            common=(common[0], common[1]) if common else None,
        )
    except UnknownFiling as e:
        raise ApiError(404, e.code, str(e)) from None
    if format == "csv":
        return Response(report.csv(), media_type="text/csv; charset=utf-8")
    return report
