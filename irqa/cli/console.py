"""What every command shares: the two consoles, settings with ``--index``, errors, progress bars,
and wrapping Chinese text for the terminal.

Bad input ends with one ``error:`` line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import wcwidth
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from irqa.runtime import prepare_process
from irqa.settings import Settings

if TYPE_CHECKING:
    from irqa.rag.engine import Engine

out = Console()
err = Console(stderr=True, soft_wrap=True)

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index directory (default: $IRQA_INDEX).")]
KOpt = Annotated[int, typer.Option("--k", min=1, max=100, help="How many passages to return.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CompanyOpt = Annotated[str | None, typer.Option("--company", help="Only this company (name, alias or code).")]


def show_notices() -> None:
    """One-time notices from the libraries (e.g. converting the model on first use) go to stderr."""
    log = logging.getLogger("irqa")
    if not log.handlers:  # through the stderr console, so progress bars don't paint over them
        log.addHandler(RichHandler(console=err, show_time=False, show_level=False, show_path=False))
        log.setLevel(logging.INFO)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def settings_for(index: Path | None) -> Settings:
    """The settings (``IRQA_*``), with ``--index`` applied; prepares the process environment."""
    s = Settings()
    if index is not None:
        # an explicit --index names the local store to use, whatever IRQA_STORE says
        s = s.model_copy(update={"index": index.expanduser(), "store": None})
    prepare_process(s.cache_dir, s.threads)
    show_notices()
    return s


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors users can cause into one clear line and exit code 1."""
    from irqa.rag.errors import IrqaError

    try:
        yield
    except (IrqaError, ValueError, OSError) as e:
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


def bar_callback(bar: Progress, labels: dict[str, str] | None = None) -> Callable[..., None]:
    """A ``progress(stage, done, total)`` callback that draws one bar per stage."""
    names = {
        "parse": "Parsing filings",
        "embed": "Embedding passages",
        "quotes": "Embedding quotable sentences",
    }
    names.update(labels or {})
    tasks: dict[str, int] = {}

    def cb(stage: str, done: int, total: int, item: str = "") -> None:
        label = names.get(stage, f"Running {stage}")
        if stage not in tasks:
            tasks[stage] = bar.add_task(label, total=total)
        # the file just done, so a long run shows where it is (cut: a bar line has one row)
        shown = f"{label} · {item[:40]}" if item else label
        bar.update(tasks[stage], completed=done, total=total, description=shown)

    return cb


def open_engine(
    index: Path | None, bootstrap: bool = True, *, resident: bool = False, one_question: bool = False
) -> Engine:
    """The engine over ``--index``; builds the sample index first when there is none (``bootstrap``).

    ``resident``: the command answers many questions, so a model that loads slower but embeds each
    question faster pays off (see ``irqa.embeddings.factory.query_spec``). ``one_question``: the
    command tokenizes one question, so jieba's dictionary is read word by word, not loaded whole
    (``irqa.rag.analysis.dictionary``)."""
    from irqa.wiring import build_engine

    engine = build_engine(settings_for(index), resident=resident, one_question=one_question)
    if bootstrap and not engine.store.exists():
        err.print(f"No index at {engine.store.root} yet: building it from the built-in sample filings…")
        with progress_bar() as bar:
            engine.ensure_index(progress=bar_callback(bar))
    return engine


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"not a date (YYYY-MM-DD): {value!r}") from None


def parse_date_range(date_from: str | None, date_to: str | None) -> tuple[dt.date | None, dt.date | None]:
    """``--from``/``--to`` as dates, refused when the range is empty."""
    start, end = parse_date(date_from), parse_date(date_to)
    if start and end and start > end:
        raise fail(f"--from {start} is after --to {end}")
    return start, end


#: characters a line must not start with (Chinese line-breaking rules, 避头尾): they hang instead
_NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉…—％,.;:?!)]}%”’·")


def wrap(text: str, width: int, indent: str = "", max_lines: int | None = None) -> list[str]:
    """``text`` as terminal lines of at most ``width`` cells, breaking Chinese between characters.

    Rich breaks only at spaces, so a Chinese sentence with one English word in it went to a new
    line at that word's space (``智能超域融合（Turbo⏎Fusion）``). wcwidth's wrapper measures
    display cells and breaks between CJK characters; a closing punctuation mark at the start of a
    line is hung on the line before (two cells are kept free for it). Paragraph breaks stay.
    """
    room = max(width - len(indent), 8)
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        rows = wcwidth.wrap(para, room - 2) or [""]
        for i in range(1, len(rows)):
            while (
                rows[i] and rows[i][0] in _NO_LINE_START and wcwidth.width(rows[i - 1] + rows[i][0]) <= room
            ):
                rows[i - 1], rows[i] = rows[i - 1] + rows[i][0], rows[i][1:].lstrip()
        lines += [r for r in rows if r] or [""]
    if max_lines is not None and len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and wcwidth.width(last + "…") > room:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last + "…"]
    return [indent + line for line in lines]
