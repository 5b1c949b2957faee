"""``irqa timeline COMPANY TOPIC``: what a company said about a topic in each of its records.

It answers through ``irqa.api.schemas.TimelineOut`` — the shape ``GET /v1/timeline`` sends — so
the CLI and the API cannot drift apart. One record per block, oldest first: the date and record,
the quote (or "not discussed"), and the figures that are new or changed since the previous
record that discussed the topic.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from irqa.cli.console import IndexOpt, JsonOpt, out, parse_date_range, user_errors, wrap


def timeline(
    company: Annotated[str, typer.Argument(help="Code, short name or alias of an indexed company.")],
    topic: Annotated[str, typer.Argument(help="What it said about: 1.6T, 液冷, 泰国工厂 …")],
    date_from: Annotated[str | None, typer.Option("--from", help="Records on or after YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Records on or before YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
    index: IndexOpt = None,
) -> None:
    """A company's statements on a topic, record by record, cited (or "not discussed")."""
    from irqa.api.schemas import TimelineOut
    from irqa.cli.console import open_engine
    from irqa.rag.timeline import timeline as build

    start, end = parse_date_range(date_from, date_to)
    with user_errors():
        engine = open_engine(index, one_question=True)
        report = TimelineOut.of(build(engine, company, topic, start, end))
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    width = max(out.width, 40)
    out.print(
        f"{report.company} ({report.code}) on {report.topic}: discussed in {report.discussed} of "
        f"{report.records} records",
        highlight=False,
        markup=False,
    )
    for e in report.entries:
        head = f"{e.date or 'undated'}  {e.record_no or e.filing_id}"
        if not e.discussed:
            out.print(f"{head}  not discussed", style="dim", highlight=False, markup=False)
            continue
        n = e.citation.n if e.citation else 0
        out.print(f"{head}  [{n}]", style="bold", highlight=False, markup=False)
        if e.question:
            for line in wrap(f"问：{e.question}", width, "    ", max_lines=2):
                out.print(line, style="dim", highlight=False, markup=False)
        for line in wrap(f"“{e.quote}”", width, "    "):
            out.print(line, highlight=False, markup=False)
        changed = [
            f"{c.previous} → {c.value}" if c.kind == "changed" else f"new {c.value}" for c in e.changes
        ]
        notes = changed + ([f"wording {e.tone}"] if e.tone in ("more confident", "less confident") else [])
        if notes:
            for line in wrap("; ".join(notes), width, "    ▸ "):
                out.print(line, style="cyan", highlight=False, markup=False)


COMMANDS = (timeline,)
