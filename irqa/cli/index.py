"""``irqa ingest`` and ``irqa filings``: what is in the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
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
                report = _ingest_on_ray(engine, settings, paths, ray_address, rebuild, bar_callback(bar))
            else:
                report = engine.ingest_paths(paths, rebuild=rebuild, progress=bar_callback(bar))
    if as_json:
        out.print_json(data=IngestOut.of(report).model_dump(mode="json"))
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


def _ingest_on_ray(engine, settings, paths, address, rebuild, progress):
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


index_app = typer.Typer(help="Maintain the index: compact segments, show statistics.", no_args_is_help=True)


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


COMMANDS = (ingest, filings)
