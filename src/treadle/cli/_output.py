"""Consoles and formatting shared by every command."""

from __future__ import annotations

import math
from datetime import datetime
from typing import NoReturn

import typer
from rich.console import Console
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


def fmt_duration(start_ms: int, end_ms: int | None) -> str:
    if end_ms is None:
        return ""
    seconds = max(0.0, (end_ms - start_ms) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def fmt_size(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"  # pragma: no cover - the loop always returns


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))
