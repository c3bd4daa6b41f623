"""Pages: model monitors (what each watches, its latest drift share, firing alerts, last error),
one monitor's dashboard (time series, alert states, the latest window's per-column verdicts), and
one column's drill-down (its statistic over time, reference vs current histogram)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from treadle.errors import NotFound
from treadle.monitors import AlertState, Monitor, WindowReport
from treadle.ui._monitors_view import (
    alert_rows,
    charts,
    column_context,
    column_history,
    column_names,
    latest_tested,
    window_label,
)
from treadle.ui._render import error_page, render

if TYPE_CHECKING:
    from treadle.client._backend import Backend

BACK = ("/monitors", "monitors")
MAX_WINDOWS = 500  # the newest windows charted
REFRESH_S = 30  # an open dashboard of an enabled monitor re-fetches itself this often
CREATE_HINT = "treadle monitor create NAME --deployment DEPLOYMENT"


@dataclass(frozen=True)
class MonitorRow:
    monitor: Monitor
    latest: WindowReport | None
    firing: list[AlertState]
    window: str


def monitors_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    service = backend.monitors

    def missing(request: Request, name: str) -> HTMLResponse:
        message = f"There is no monitor named {name!r}. Create one with: {CREATE_HINT.replace('NAME', name)}"
        return error_page(request, 404, "Monitor not found", message, back=BACK)

    @router.get("/monitors", response_class=HTMLResponse)
    def monitors_page(request: Request) -> HTMLResponse:
        rows = []
        for m in service.list_monitors():
            try:
                latest = service.list_windows(m.name, limit=1)
                firing = [s for s in service.alert_states(m.name) if s.state == "firing"]
            except NotFound:  # deleted since the list was read
                continue
            rows.append(MonitorRow(m, latest[-1] if latest else None, firing, window_label(m)))
        return render(request, "monitors.html", rows=rows, hint=CREATE_HINT)

    @router.get("/monitors/{name}", response_class=HTMLResponse)
    def monitor_page(request: Request, name: str) -> HTMLResponse:
        try:
            m = service.get_monitor(name)
        except NotFound:
            return missing(request, name)
        windows = service.list_windows(name, limit=MAX_WINDOWS)
        states = service.alert_states(name)
        return render(
            request,
            "monitor.html",
            m=m,
            windows=windows,
            recent=windows[::-1][:20],
            charts=charts(m, windows),
            alerts=alert_rows(m, states),
            firing=[s for s in states if s.state == "firing"],
            latest=latest_tested(windows),
            window=window_label(m),
            refresh_s=REFRESH_S,
        )

    @router.get("/monitors/{name}/columns/{column:path}", response_class=HTMLResponse)
    def column_page(request: Request, name: str, column: str) -> HTMLResponse:
        try:
            m = service.get_monitor(name)
        except NotFound:
            return missing(request, name)
        windows = service.list_windows(name, limit=MAX_WINDOWS)
        if column not in column_names(m, windows):
            back = (f"/monitors/{quote(name)}", name)
            message = f"Monitor {name!r} watches no column {column!r}."
            return error_page(request, 404, "Column not found", message, back=back)
        history = column_history(windows, column)
        return render(request, "monitor_column.html", m=m, column=column, **column_context(column, history))

    return router
