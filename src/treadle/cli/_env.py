"""``treadle env ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="env", no_args_is_help=True)
