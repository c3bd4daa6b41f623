"""``treadle pipelines ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="pipelines", no_args_is_help=True)
