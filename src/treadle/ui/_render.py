"""Jinja2 environment (autoescaped), formatting filters, and the page/404 responses."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import escape

from treadle.fmt import fmt_duration, fmt_size
from treadle.store import DEFAULT_WORKSPACE

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


def page_context(request: Request) -> dict[str, Any]:
    """What every template sees besides its own context (see :func:`render`)."""
    root = root_of(request)
    state = request.scope.get("state") or {}
    workspace = str(state.get("workspace") or DEFAULT_WORKSPACE)
    prefix = f"/w/{workspace}"
    site = root[: -len(prefix)] if workspace != DEFAULT_WORKSPACE and root.endswith(prefix) else root
    path = request.url.path
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return {
        "root": root,
        "site": site,
        "path": path or "/",
        "csrf": str(state.get("csrf_token") or ""),
        "principal": state.get("principal"),
        "auth": bool(state.get("auth", False)),
        "workspace": workspace,
        "workspaces": lambda: workspaces_of(request),
    }


def workspaces_of(request: Request) -> list[str]:
    """The workspaces the caller can use (the access service answers for the caller the gateway set),
    ``default`` first; empty where this app has no access service."""
    app = request.scope.get("app")
    backend = getattr(getattr(app, "state", None), "backend", None)
    access = getattr(backend, "access", None)
    if access is None:
        return []
    names = [w.name for w in access.list_workspaces()]
    return sorted(names, key=lambda n: (n != DEFAULT_WORKSPACE, n))


def render(
    request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """Render a template with the page context (see :func:`page_context`) and ``context``.

    Every template sees ``root`` (the app's mount path, ``/w/<workspace>`` included: prefix links with
    it), ``site`` (the server's own mount path: /login and /logout live there), ``path`` (the request
    path below ``root``), ``csrf`` (the session's CSRF token, "" without a session), ``principal``
    (who is signed in, or None), ``auth`` (whether the server requires sign-in), ``workspace`` and
    ``workspaces()`` (the workspaces the caller can use; a query, so called only where shown)."""
    html = ENV.get_template(template).render({**page_context(request), **context})
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(
    request: Request, status: int, title: str, message: str, back: tuple[str, str] = ("/", "experiments")
) -> HTMLResponse:
    """A friendly HTML error page (unknown ids, bad compare selections) linking ``back`` (path, label)."""
    return render(request, "error.html", status=status, title=title, message=message, back=back)


DENIED_TITLES = {
    401: "Sign in",
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    413: "Too large",
    429: "Too many attempts",
}


def denied_page(request: Request, status: int, message: str) -> HTMLResponse:
    """What a browser gets when the server's gateway refuses a page or a form (no role, no CSRF token):
    the error page, or for an htmx request a notice that htmx swaps into the page's ``#notice``
    (instead of the form's target, which keeps its content)."""
    if request.headers.get("hx-request") == "true":
        html = f'<div class="alert denied" role="alert" id="denied">{escape(message)}</div>'
        return HTMLResponse(html, status_code=status, headers={"HX-Retarget": "#notice", "HX-Reswap": "innerHTML"})
    title = DENIED_TITLES.get(status, "Refused")
    return error_page(request, status, title, message[:1].upper() + message[1:] + ".")
