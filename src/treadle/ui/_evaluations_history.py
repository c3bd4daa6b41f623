"""A model's evaluation history: each overall metric across its versions (the newest evaluation of
each version) or across every evaluation run in time order (continuous-training pipelines evaluate
the same model many times), as one line chart per metric and a table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from treadle.ui._charts_svg import line_chart
from treadle.ui._evaluations_data import Evaluation, order_metrics
from treadle.ui._svg_safe import safe_svg

log = logging.getLogger(__name__)
MAX_CHARTS = 12
Chart = Callable[..., str]


def _plots_chart() -> Chart | None:
    """``treadle.evaluation``'s line chart when it is there (one look for every chart in treadle)."""
    try:
        from treadle.evaluation._plots import line_chart_svg
    except ImportError:
        return None
    return line_chart_svg


def chart(
    series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str, title: str, ticks: list[tuple[float, str]]
) -> Markup:
    """The evaluation package's chart, sanitised like any SVG; ours when it is missing or fails."""
    draw = _plots_chart()
    if draw is not None:
        try:
            svg = safe_svg(draw(series, x_label=x_label, y_label=y_label, title=title, x_ticks=ticks).encode())
            if svg is not None:
                return Markup('<div class="history-chart" data-metric="{}">{}</div>').format(y_label, svg)
        except Exception as exc:  # a chart must not take the page down
            log.warning("line_chart_svg failed for %s: %s", title, exc)
    svg = line_chart(
        series, x_label=x_label, y_label=y_label, title=title, x_ticks=[x for x, _ in ticks], cls="history"
    )
    return Markup('<div class="history-chart" data-metric="{}">{}</div>').format(y_label, svg)


def history_context(evals: list[Evaluation], by: str) -> dict[str, Any]:
    """Charts and table rows; ``by`` is ``version`` (x = version number) or ``run`` (x = evaluation #)."""
    ordered = sorted(evals, key=lambda e: e.run.start_time)  # oldest first
    if by == "version":
        latest: dict[int, Evaluation] = {}
        for ev in ordered:  # later evaluations of a version replace earlier ones
            if ev.version.isdigit():
                latest[int(ev.version)] = ev
        points = sorted(latest.items())
        rows = [ev for _, ev in points]
        x_label = "model version"
        xs = [float(v) for v, _ in points]
        ticks = [(x, f"v{int(x)}") for x in xs]
    else:
        rows = ordered
        x_label = "evaluation (oldest first)"
        xs = [float(i + 1) for i in range(len(rows))]
        ticks = [(x, f"#{int(x)}") for x in xs]
    metrics = order_metrics({m for ev in rows for m in ev.overall})
    charts = []
    for m in metrics[:MAX_CHARTS]:
        pts = [(x, ev.overall[m]) for x, ev in zip(xs, rows, strict=True) if m in ev.overall]
        if pts:
            charts.append((m, chart({m: pts}, x_label, m, f"{m} by {x_label}", ticks)))
    table = list(zip(xs, rows, strict=True))[::-1]  # newest first
    return {"charts": charts, "metrics": metrics, "table": table, "more_metrics": len(metrics) > MAX_CHARTS}
