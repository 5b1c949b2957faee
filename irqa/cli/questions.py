"""``irqa ask``, ``irqa search`` and ``irqa batch``: questions in, cited answers out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.text import Text

from irqa.cli.console import (
    CompanyOpt,
    IndexOpt,
    JsonOpt,
    KOpt,
    err,
    open_engine,
    out,
    parse_date,
    progress_bar,
    user_errors,
    wrap,
)

if TYPE_CHECKING:
    from irqa.rag.models import Answer, Hit

FromOpt = Annotated[str | None, typer.Option("--from", help="Only filings dated on/after (YYYY-MM-DD).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Only filings dated on/before (YYYY-MM-DD).")]
ExtractiveOpt = Annotated[
    bool,
    typer.Option(
        "--extractive", help="Quote the filings even when an LLM is configured (IRQA_LLM_BASE_URL)."
    ),
]


def _width() -> int:
    return max(out.size.width, 40)


def render_answer(answer: Answer, show: int = 3) -> None:
    """The answer in a panel, then each citation: where it is from, the question it answered, the quote.

    An abstention shows its short reason and at most ``show`` nearest passages, two lines each
    (the passages are not answers; ``--json`` has them in full).
    """
    style = "yellow" if answer.abstained else "green"
    title = "No answer in the indexed filings" if answer.abstained else "Answer"
    if answer.mode == "generative":
        title = "Answer (generated; every sentence checked against the cited passages)"
    body = Text("\n".join(wrap(answer.answer, _width() - 4)))
    out.print(Panel(body, title=title, border_style=style, expand=False), highlight=False)
    if answer.warning:
        err.print(f"[yellow]warning:[/] {answer.warning}", highlight=False)
    for s in answer.grounding.unsupported:
        out.print(f"[dim]not shown (failed the grounding check): {s}[/]", highlight=False)
    for c in answer.citations:
        date = c.date.isoformat() if c.date else "date unknown"
        out.print(
            Text.assemble((f"[{c.n}]", "bold"), f" {c.company} ({c.code}), record {c.record_no}, {date}"),
            no_wrap=True,
            overflow="ellipsis",
        )
        if c.question:
            out.print(Text("\n".join(wrap("answering: " + c.question, _width(), "    ")), style="italic"))
        out.print(Text("\n".join(wrap(f"“{c.quote}”", _width(), "    "))))
    if answer.abstained and answer.passages:
        out.print(Text("Nearest passages (for reference, not answers):", style="dim"))
        render_hits(answer.passages[:show], lines=2)


def render_hits(hits: list[Hit], lines: int = 4) -> None:
    """Ranked passages as a list: rank, score, filing and section on one line, then the text,
    wrapped for the terminal and cut after ``lines`` lines (a table's narrow column turned one
    passage into fifteen lines at 80 columns)."""
    for h in hits:
        p = h.passage
        head = f"{h.rank:>2}  {h.score:.3f}  {p.company} {p.code} · {p.record_no}"
        section = p.question or p.title
        out.print(
            Text.assemble((head, "bold"), (f" · {section}" if section else "", "italic")),
            no_wrap=True,
            overflow="ellipsis",
        )
        out.print(Text("\n".join(wrap(p.text, _width(), "    ", max_lines=lines))))


def ask(
    question: Annotated[str, typer.Argument(help="A question in Chinese or English.")],
    index: IndexOpt = None,
    company: CompanyOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    k: KOpt = 10,
    extractive: ExtractiveOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with numbered citations: quotes, or checked LLM sentences when one is set."""
    from irqa.api.schemas import AnswerOut

    with user_errors():
        engine = open_engine(index, one_question=True)
        answer = engine.answer(
            question,
            k,
            company=company,
            date_from=parse_date(date_from),
            date_to=parse_date(date_to),
            mode="extractive" if extractive else None,
        )
    if as_json:
        print(AnswerOut.of(answer).model_dump_json(indent=2))
    else:
        render_answer(answer)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    index: IndexOpt = None,
    company: CompanyOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    k: KOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Ranked passages for a query (hybrid dense + BM25)."""
    from irqa.api.schemas import HitOut

    with user_errors():
        engine = open_engine(index, one_question=True)
        hits = engine.search(
            query, k, company=company, date_from=parse_date(date_from), date_to=parse_date(date_to)
        )
    if as_json:
        print(json.dumps([HitOut.of(h).model_dump(mode="json") for h in hits], ensure_ascii=False, indent=2))
    else:
        render_hits(hits)


def batch(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSONL, one {"id", "question"} per line; "company", "date_from", "date_to", "k", "mode" as /v1/ask.'
        ),
    ],
    index: IndexOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write answers here (default: stdout).")
    ] = None,
    k: KOpt = 10,
) -> None:
    """Answer many questions: one JSON answer per input line, in input order (for harness runs).

    A bad line gets an error row ``{"id", "line", "error"}`` and the run goes on; the exit code is
    1 when any line failed.
    """
    from pydantic import ValidationError

    from irqa.api.schemas import AnswerOut, BatchItem
    from irqa.eval.jsonl import records
    from irqa.rag.errors import QuestionError

    with user_errors():
        rows = list(records(file))
        engine = open_engine(index, resident=len(rows) > 20)
    sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
    bad = 0
    try:
        with progress_bar() as bar:
            task = bar.add_task("Answering", total=len(rows))
            for rec in rows:
                bar.advance(task)
                qid = rec.obj.get("id") if rec.obj is not None else None
                error = rec.error
                if error is None:
                    try:
                        item = BatchItem.model_validate(rec.obj)
                        qid = item.id if item.id is not None else rec.line
                        answer = engine.answer(
                            item.question,
                            item.k or k,
                            company=item.company,
                            date_from=item.date_from,
                            date_to=item.date_to,
                            qid=str(qid),
                            mode=item.mode,
                        )
                        row = AnswerOut.of(answer).model_dump(mode="json") | {"id": qid}
                    except ValidationError as e:
                        error = "; ".join(
                            f"{'.'.join(map(str, x['loc'])) or 'line'}: {x['msg']}" for x in e.errors()
                        )
                    except QuestionError as e:
                        error = str(e)
                if error is not None:
                    bad += 1
                    row = {"id": qid, "line": rec.line, "error": error}
                    err.print(f"[bold red]error:[/] {file}:{rec.line}: {error}", highlight=False)
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                sink.flush()
    finally:
        if out_file:
            sink.close()
    if bad:
        raise typer.Exit(1)


COMMANDS = (ask, search, batch)
