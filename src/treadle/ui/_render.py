"""Jinja2 environment (autoescaped), formatting filters, and the page/404 responses."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from treadle.fmt import fmt_duration, fmt_size

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` (UTC); the browser rewrites it to local time."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_number(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return str(v)


def _env() -> Environment:
    from treadle._version import __version__

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, duration=fmt_duration, num=fmt_number, size=fmt_size)
    env.globals["version"] = __version__
    return env


ENV = _env()


def root_of(request: Request) -> str:
    """The path the app is mounted under ("" at the top), to prefix links with."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(
    request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """Render a template with ``root`` (the app's mount path) and ``path`` in its context."""
    root = root_of(request)
    html = ENV.get_template(template).render(root=root, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(
    request: Request, status: int, title: str, message: str, back: tuple[str, str] = ("/", "experiments")
) -> HTMLResponse:
    """A friendly HTML error page (unknown ids, bad compare selections) linking ``back`` (path, label)."""
    return render(request, "error.html", status=status, title=title, message=message, back=back)
