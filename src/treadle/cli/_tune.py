"""``treadle tune ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="tune", no_args_is_help=True)
