"""Consoles and formatting shared by every command."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "RUNNING": "blue",
    "SCHEDULED": "dim",
    "FINISHED": "green",
    "FAILED": "red",
    "KILLED": "yellow",
}


def out() -> Console:
    """Standard output (made per call, so it follows redirections and ``COLUMNS``)."""
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """One red line on stderr (multi-line messages joined with "; "), never reflowed or read as markup."""
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    err().print(Text(f"error: {line}", style="bold red"), soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Report a user mistake and exit with status 1."""
    print_error(message)
    raise typer.Exit(1)


def note(message: str) -> None:
    out().print(Text(message), soft_wrap=True)


def fmt_time(ms: int | None, short: bool = False) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def fmt_number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def key_value_grid(rows: Sequence[tuple[str, str | Text]]) -> Table:
    """A two-column grid of bold keys and their values; rows with an empty value are left out."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        text = value if isinstance(value, Text) else Text(value)
        if text.plain:
            grid.add_row(key, text)
    return grid


def echo_json(value: Any) -> None:
    """Print ``value`` as strict JSON: NaN and infinities (a metric with no value) become null."""
    typer.echo(json.dumps(_finite(value), indent=1, allow_nan=False, default=str))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
