"""What the monitor pages draw from a monitor's evaluated windows: time series (drift share,
prediction drift, performance and its CBPE estimate, missing share), the latest window's per-column
verdicts, and one column's statistic over time with its reference-vs-current histogram."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from treadle.monitors import AlertState, ColumnDrift, Monitor, WindowReport
from treadle.ui._charts_svg import histogram, line_chart
from treadle.ui._evaluations_data import order_metrics

MAX_PERFORMANCE_CHARTS = 4
Series = list[tuple[float, float]]


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def window_label(m: Monitor) -> str:
    w = m.spec.window
    return f"{w.rows} rows" if w.kind == "count" else f"{w.seconds} s"


def latest_tested(windows: list[WindowReport]) -> WindowReport | None:
    """The newest window with per-column verdicts (a too-small window has none)."""
    return next((w for w in reversed(windows) if w.columns or w.prediction is not None), None)


def charts(m: Monitor, windows: list[WindowReport]) -> list[tuple[str, str, Markup]]:
    """(id, caption, svg) per time series that has data."""
    out: list[tuple[str, str, Markup]] = []
    drift: Series = [(w.end_ms, w.drift_share) for w in windows if w.drift_share is not None and _finite(w.drift_share)]
    if drift:
        marked = {"drift share": {float(w.end_ms) for w in windows if w.dataset_drift}}
        svg = line_chart({"drift share": drift}, x_label="window end (UTC)", y_label="drift share",
                         title="share of drifted columns", time_x=True, threshold=m.spec.drift.drift_share,
                         marked=marked, floor=0.0, cls="timeseries drift-share")  # fmt: skip
        out.append(("drift-share", "Drift share", svg))
    pred = [(w.end_ms, w.prediction) for w in windows if w.prediction is not None and _finite(w.prediction.statistic)]
    if pred:
        points: Series = [(t, float(p.statistic or 0.0)) for t, p in pred]
        hot = {"prediction": {float(t) for t, p in pred if p.drifted}}
        last = pred[-1][1]
        threshold = None if last.p_value is not None else last.threshold  # a p-value threshold is not on this scale
        svg = line_chart({"prediction": points}, x_label="window end (UTC)", y_label=last.test,
                         title="prediction drift", time_x=True, threshold=threshold, marked=hot,
                         cls="timeseries prediction-drift")  # fmt: skip
        out.append(("prediction-drift", "Prediction drift", svg))
    names = order_metrics(
        {k for w in windows for k in (w.performance or {})} | {k for w in windows for k in (w.estimated or {})}
    )
    for name in names[:MAX_PERFORMANCE_CHARTS]:
        series: dict[str, Series] = {}
        real = [(float(w.end_ms), (w.performance or {})[name]) for w in windows if name in (w.performance or {})]
        est = [(float(w.end_ms), (w.estimated or {})[name]) for w in windows if name in (w.estimated or {})]
        if real:
            series[name] = real
        if est:
            series[f"estimated {name}"] = est
        svg = line_chart(series, x_label="window end (UTC)", y_label=name, title=f"{name} per window",
                         time_x=True, cls="timeseries performance")  # fmt: skip
        caption = f"Performance: {name}" if real else f"Estimated {name} (CBPE, no labels yet)"
        out.append((f"performance-{name}", caption, svg))
    missing: Series = [(w.end_ms, w.quality.missing_share) for w in windows if w.quality is not None]
    if missing:
        svg = line_chart({"missing share": missing}, x_label="window end (UTC)", y_label="missing share",
                         title="share of missing cells", time_x=True, floor=0.0,
                         cls="timeseries missing-share")  # fmt: skip
        out.append(("missing-share", "Missing values", svg))
    return out


@dataclass(frozen=True)
class AlertRow:
    rule: str
    metric: str
    condition: str
    state: AlertState | None


def alert_rows(m: Monitor, states: list[AlertState]) -> list[AlertRow]:
    """Every configured rule with its state (rules never evaluated have none yet)."""
    by_rule = {s.rule: s for s in states}
    rows = [AlertRow(r.name, r.metric, f"{r.op} {r.threshold:g}", by_rule.pop(r.name, None)) for r in m.spec.alerts]
    rows += [AlertRow(s.rule, "", "", s) for s in by_rule.values()]  # states of rules since removed
    return rows


def column_names(m: Monitor, windows: list[WindowReport]) -> list[str]:
    names = dict.fromkeys(m.reference.columns if m.reference else [])
    for w in windows:
        names.update(dict.fromkeys(c.column for c in w.columns))
        if w.prediction is not None:
            names[w.prediction.column] = None
    return list(names)


def column_history(windows: list[WindowReport], column: str) -> list[tuple[WindowReport, ColumnDrift]]:
    """(window, the column's verdict in it), oldest first; the prediction column counts too."""
    out = []
    for w in windows:
        found = next((c for c in w.columns if c.column == column), None)
        if found is None and w.prediction is not None and w.prediction.column == column:
            found = w.prediction
        if found is not None:
            out.append((w, found))
    return out


def column_context(column: str, history: list[tuple[WindowReport, ColumnDrift]]) -> dict[str, Any]:
    """The statistic (and p-value) over time, and the newest histogram the column's detail allows."""
    stat = [(float(w.end_ms), c.statistic) for w, c in history if c.statistic is not None and _finite(c.statistic)]
    marked = {"statistic": {float(w.end_ms) for w, c in history if c.drifted}}
    latest = history[-1][1] if history else None
    test = latest.test if latest else "statistic"
    p_values = [(float(w.end_ms), c.p_value) for w, c in history if c.p_value is not None and _finite(c.p_value)]
    threshold = latest.threshold if latest else None
    statistic = line_chart({"statistic": stat}, x_label="window end (UTC)", y_label=test,
                           title=f"{column}: {test} per window", time_x=True,
                           threshold=None if p_values else threshold, marked=marked,
                           cls="timeseries column-statistic")  # fmt: skip
    p_chart = None
    if p_values:
        p_chart = line_chart({"p-value": p_values}, x_label="window end (UTC)", y_label="p-value",
                             title=f"{column}: p-value per window", time_x=True, threshold=threshold,
                             cls="timeseries column-p-value")  # fmt: skip
    hist, hist_window = None, None
    for w, c in reversed(history):
        hist = histogram(c.detail, column) if c.detail else None
        if hist is not None:
            hist_window = w
            break
    return {
        "statistic_chart": statistic,
        "p_chart": p_chart,
        "histogram": hist,
        "histogram_window": hist_window,
        "latest": latest,
        "rows": history[::-1],
    }
