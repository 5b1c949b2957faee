"""``python -m irqa`` runs the CLI."""

from irqa.cli import app

app(prog_name="irqa")
