"""The ``irqa`` command line: one module per command group, mounted on one Typer app.

- ``index``: ``ingest``, ``filings``, ``index compact``, ``index stats``
- ``questions``: ``ask``, ``search``, ``batch``
- ``serve``: ``serve``
- ``model``: ``model export``
- ``evaluate``: ``eval questions|beir``, ``bench``
- ``llm``: ``llm`` (a local chat model for generative answers)
- ``visits``: ``visits`` (who visited which company, from the records' headers)

Command modules import the library lazily inside the commands, so ``irqa --help`` stays fast.
"""

from __future__ import annotations

import typer

from irqa.cli import evaluate, index, llm, model, questions, serve, timeline, visits

app = typer.Typer(
    help="irqa: cited answers from Chinese investor-relations filings (投资者关系活动记录表).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (index, questions, serve, llm, visits, timeline):
    for command in module.COMMANDS:
        app.command()(command)
app.add_typer(model.app, name="model")
app.add_typer(index.index_app, name="index")
app.add_typer(evaluate.app, name="eval")
app.command()(evaluate.bench)

__all__ = ["app"]
