"""The ``treadle`` command line: a Typer app, one module per area, thin over the SDK."""

from treadle.cli._app import app, main

__all__ = ["app", "main"]
