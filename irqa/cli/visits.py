"""``irqa visits``: who visited which company, from the header of every indexed record.

It reads the index's filings without loading the embedding model (like ``irqa filings``), reads
each header's 参与单位 cell with ``irqa.rag.visits`` and answers through
``irqa.api.schemas.VisitsOut`` — the shape ``GET /v1/visits`` sends — so the CLI and the API
cannot drift apart.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated

import typer
from rich.table import Table

from irqa.cli.console import IndexOpt, out, parse_date_range, user_errors


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Counts(enum.StrEnum):
    month = "month"
    type = "type"


def visits(
    company: Annotated[
        str | None, typer.Option("--company", help="Only this company (code or name).")
    ] = None,
    institution: Annotated[
        str | None,
        typer.Option(
            "--institution", help="Only visits by this institution (景顺长城 = 景顺长城基金管理有限公司)."
        ),
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="On or after YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="On or before YYYY-MM-DD.")] = None,
    counts: Annotated[
        Counts | None,
        typer.Option("--counts", help="Count visits per company per month, or per activity type."),
    ] = None,
    common: Annotated[
        tuple[str, str] | None,
        typer.Option("--common", metavar="FILING_ID FILING_ID", help="Institutions at both meetings."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    index: IndexOpt = None,
) -> None:
    """Visits recorded in the headers: who came, when, which companies an institution visited."""
    from irqa.api.schemas import VisitsOut
    from irqa.cli.console import open_engine
    from irqa.rag.visits import visits_in

    start, end = parse_date_range(date_from, date_to)
    with user_errors():
        engine = open_engine(index, bootstrap=False)
        view = engine.store.load()  # no model needed: only the filings are read
        report = VisitsOut.build(
            visits_in(view),
            company=company,
            institution=institution,
            date_from=start,
            date_to=end,
            counts=counts.value if counts else None,
            common=tuple(common) if common else None,
        )
    if fmt is Format.json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
    elif fmt is Format.csv:
        print(report.csv(), end="")
    else:
        _table(report, bool(common), counts)


def _table(report, common: bool, counts: Counts | None) -> None:
    if common:
        t = Table(title=f"{len(report.common)} institutions at both meetings", title_justify="left")
        for c in ("institution", "printed (1st)", "printed (2nd)", "people (1st)", "people (2nd)"):
            t.add_column(c, overflow="fold")
        for r in report.common:
            t.add_row(r.name, r.printed_a, r.printed_b, "、".join(r.people_a), "、".join(r.people_b))
    elif counts is not None:
        t = Table(title=f"visits per {'company per month' if counts is Counts.month else 'activity type'}")
        keys = ("code", "company", "month") if counts is Counts.month else ("activity_type",)
        for c in (*keys, "visits", "institutions"):
            t.add_column(c, overflow="fold")
        for r in report.counts:
            t.add_row(*(str(getattr(r, k)) for k in keys), str(r.visits), str(r.institutions))
    elif report.companies:
        t = Table(title=f"{len(report.companies)} companies visited", title_justify="left")
        for c in ("code", "company", "visits", "dates", "printed as", "filings"):
            t.add_column(c, overflow="fold")
        for r in report.companies:
            t.add_row(
                r.code,
                r.company,
                str(r.visits),
                ", ".join(d.isoformat() for d in r.dates),
                "；".join(r.printed),
                ", ".join(r.filing_ids),
            )
    else:
        t = Table(title=f"{len(report.visits)} visits", title_justify="left")
        for c in ("date", "company", "filing", "type", "institutions", "people", "place"):
            t.add_column(c, overflow="fold")
        for v in report.visits:
            if v.see_attachment:
                who = "unknown (见附件, no list in the record)"
            elif v.public:
                who = "open meeting (全体投资者)"
            else:
                names = [a.name for a in v.institutions]
                who = "、".join(names[:12]) + (f" … (+{len(names) - 12})" if len(names) > 12 else "")
            t.add_row(
                str(v.date or ""),
                f"{v.company} {v.code}",
                v.filing_id,
                "、".join(v.activity_types),
                who,
                "" if v.people_count is None else str(v.people_count),
                v.place,
            )
    out.print(t, highlight=False)


COMMANDS = (visits,)
