"""``irqa ingest`` and ``irqa filings``: what is in the index."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len
from rich.table import Table

from irqa.cli.console import (
    IndexOpt,
    JsonOpt,
    bar_callback,
    err,
    out,
    progress_bar,
    settings_for,
    user_errors,
)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Filings (.txt/.pdf/.docx) or folders of them.")],
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start a fresh index from these files.")] = False,
    allow_unstructured: Annotated[
        bool,
        typer.Option(
            "--allow-unstructured",
            help="Also index text that is not a 投资者关系活动记录表 (no header fields, no Q&A).",
        ),
    ] = False,
    as_json: JsonOpt = False,
    ray: Annotated[
        bool, typer.Option("--ray", help="Parse and embed on Ray (a local Ray started for this run).")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="Use an existing Ray cluster: 'auto' or HOST:PORT (implies --ray)."
        ),
    ] = None,
) -> None:
    """Add or update filings in the index (unchanged files are skipped, nothing is embedded twice)."""
    from irqa.api.schemas import IngestOut
    from irqa.wiring import build_engine

    with user_errors():
        settings = settings_for(index)
        engine = build_engine(settings)
        with progress_bar() as bar:
            if ray or ray_address:
                report = _ingest_on_ray(
                    engine, settings, paths, ray_address, rebuild, bar_callback(bar), allow_unstructured
                )
            else:
                report = engine.ingest_paths(
                    paths, rebuild=rebuild, progress=bar_callback(bar), allow_unstructured=allow_unstructured
                )
    if as_json:
        out.print_json(data=IngestOut.of(report).model_dump(mode="json"))
    else:
        _print_records(report)
        out.print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.skipped)} skipped, "
            f"{len(report.failed)} failed in {report.seconds:.1f} s\n"
            f"{report.passages} passages ({report.embedded} embedded, "
            f"{report.passages - report.embedded} from cache) → {engine.store.root}",
            highlight=False,
            soft_wrap=True,
        )
    _note_empty_records(report)
    for source, reason in report.failed:
        err.print(f"[bold red]error:[/] {source}: {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


#: how each file's outcome is shown
STATUS_STYLE = {"added": "green", "updated": "yellow", "unchanged": "dim"}


def _print_records(report) -> None:
    """One row per accepted file: what it yielded, so a parse that went wrong is visible."""
    status = {fid: "added" for fid in report.added} | {fid: "updated" for fid in report.updated}
    status |= {fid: "unchanged" for fid in report.skipped}
    if not report.records:
        return
    columns = {
        "": [status.get(r.id, "") for r in report.records],
        "id": [r.id for r in report.records],
        "company": [r.company for r in report.records],
        "date": [str(r.date or "") for r in report.records],
        "Q&A": [str(r.questions) for r in report.records],
        "passages": [str(r.passages) for r in report.records],
        "source": [r.source for r in report.records],
    }
    shown = [c for c in columns if c not in fit_columns(columns, out.size.width)]
    table = Table(box=None, pad_edge=False)
    for name in shown:
        table.add_column(name, justify="right" if name in ("Q&A", "passages") else "left", no_wrap=True)
    for i, r in enumerate(report.records):
        cells = {name: columns[name][i] for name in shown}
        cells[""] = f"[{STATUS_STYLE.get(cells[''], 'dim')}]{cells['']}[/]"
        if not r.questions and "Q&A" in cells:
            cells["Q&A"] = "[bold yellow]0[/]"
        table.add_row(*cells.values())
    out.print(table, highlight=False)


def _note_empty_records(report) -> None:
    """On stderr, also with ``--json``: records whose Q&A the parser did not find."""
    empty = [r for r in report.records if not r.questions]
    if empty:
        err.print(
            f"[yellow]note:[/] {len(empty)} record(s) yielded no Q&A pairs (indexed as narrative text); "
            "if a file has questions and answers, its layout was not recognized: "
            + ", ".join(r.source for r in empty[:5])
            + ("…" if len(empty) > 5 else ""),
            highlight=False,
        )


def _ingest_on_ray(engine, settings, paths, address, rebuild, progress, allow_unstructured=False):
    """``irqa ingest --ray``: parse/chunk as Ray tasks, embed in an actor pool, write here."""
    from irqa.embeddings.cache import VectorCache
    from irqa.rag.ingest.distributed import ingest_ray
    from irqa.wiring import embedder_factory

    return ingest_ray(
        engine.store,
        embedder_factory(settings),
        VectorCache(settings.cache_dir / "vectors.sqlite"),
        paths,
        address=address,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        aliases_path=engine.config.aliases_path,
        rebuild=rebuild,
        limits=dataclasses.replace(engine.config.limits, require_structure=not allow_unstructured),
        progress=progress,
    )


def filings(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the indexed filings."""
    from irqa.cli.console import open_engine

    with user_errors():
        engine = open_engine(index, bootstrap=False)
        rows = engine.filings()
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    columns = {
        "id": [r.id for r in rows],
        "company": [r.company for r in rows],
        "code": [r.code for r in rows],
        "record": [r.record_no for r in rows],
        "date": [str(r.date or "") for r in rows],
        "Q&A": [str(r.questions) for r in rows],
        "passages": [str(r.passages) for r in rows],
        "source": [r.source for r in rows],
    }
    hidden = fit_columns(columns, out.size.width)
    table = Table(title=f"{len(rows)} filings in {engine.store.root}", title_justify="left")
    shown = [c for c in columns if c not in hidden]
    for name in shown:
        table.add_column(name, no_wrap=name != "source", overflow="fold")
    for i in range(len(rows)):
        table.add_row(*(columns[name][i] for name in shown))
    if hidden:
        table.caption = f"{', '.join(hidden)} hidden at {out.size.width} columns; --json has every field"
        table.caption_justify = "left"
    out.print(table, highlight=False)


#: the columns ``irqa filings`` gives up first when the terminal is narrow (id already holds
#: the code and the record number)
DROP_ORDER = ("source", "record", "code", "Q&A")


def fit_columns(columns: dict[str, list[str]], width: int) -> list[str]:
    """The columns to hide so that the table fits ``width`` cells without cutting an id or a date.

    Each column takes its widest cell plus two of padding and one border (rich's default box).
    What is left after hiding everything droppable keeps its width; ``source`` folds if it stays.
    """
    need = {name: max(cell_len(v) for v in [name, *values]) + 3 for name, values in columns.items()}
    hidden: list[str] = []
    for name in DROP_ORDER:
        if sum(w for c, w in need.items() if c not in hidden) + 1 <= width:
            break
        hidden.append(name)
    return hidden


index_app = typer.Typer(
    help="Maintain the index: compact segments, show statistics, verify checksums.", no_args_is_help=True
)


@index_app.command("compact")
def compact(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Merge the index's segments into one and drop the rows of deleted or replaced filings."""
    from irqa.cli.console import open_engine

    with user_errors():
        engine = open_engine(index, bootstrap=False)
        before = engine.snapshot().stats()
        after = engine.compact()
    if as_json:
        print(json.dumps({"before": before, "after": after}, ensure_ascii=False, indent=2))
    else:
        out.print(
            f"{len(before.get('segments', []))} segments ({before.get('dead_rows', 0)} dead rows) → "
            f"{len(after.get('segments', []))} segment(s), {after['passages']} passages → {engine.store.root}",
            highlight=False,
        )


@index_app.command("stats")
def stats(index: IndexOpt = None) -> None:
    """Segments, live and dead rows, generation (JSON)."""
    from irqa.cli.console import open_engine

    with user_errors():
        engine = open_engine(index, bootstrap=False)
        print(json.dumps(engine.snapshot().stats(), ensure_ascii=False, indent=2))


@index_app.command("check")
def check(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Hash every file of the index against the checksums written with it; exit 1 if one is bad.

    Opening the index checks sizes and small files only (see ``irqa.rag.store.segment``); this
    reads everything, so a flipped byte anywhere is found. It opens the store, not the index, so
    a damaged index can be checked.
    """
    from irqa.wiring import build_engine

    with user_errors():
        report = build_engine(settings_for(index)).store.check()
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for line in report.problems:
            err.print(f"[bold red]bad:[/] {line}", highlight=False, soft_wrap=True)
        if report.unsealed:
            err.print(
                f"[yellow]note:[/] {len(report.unsealed)} segment(s) were written before checksums and could "
                f"not be verified ({', '.join(report.unsealed[:5])}{'…' if len(report.unsealed) > 5 else ''}); "
                f"'irqa index compact --index {report.root}' rewrites them with checksums",
                highlight=False,
                soft_wrap=True,
            )
        verdict = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        out.print(
            f"{report.segments} segment(s), {report.files} files, {report.bytes / 1e6:.1f} MB hashed in "
            f"{report.seconds:.2f} s: {verdict} → {report.root}",
            highlight=False,
            soft_wrap=True,
        )
    if not report.ok:
        if not as_json:
            err.print(
                "[bold red]error:[/] the index is damaged: rebuild it by re-ingesting the filings, "
                f"'irqa ingest --rebuild --index {report.root} PATH...' (cached vectors are reused)",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1)


COMMANDS = (ingest, filings)
