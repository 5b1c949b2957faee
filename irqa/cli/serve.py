"""``irqa serve``: the HTTP API and the analyst's web page."""

from __future__ import annotations

from typing import Annotated

import typer

from irqa.cli.console import IndexOpt, settings_for, user_errors


def serve(
    index: IndexOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
) -> None:
    """Serve the HTTP API and the analyst's web page (builds the sample index if there is none)."""
    from irqa.server import run

    s = settings_for(index)
    with user_errors():
        run(s, host or s.host, port or s.port)


COMMANDS = (serve,)
