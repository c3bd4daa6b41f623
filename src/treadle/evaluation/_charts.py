"""Charts shared by evaluations and monitors: metrics by slice (horizontal bars) and a line chart
of a metric across model versions or monitor windows, as standalone SVG text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from treadle.evaluation import _svg as s


def metric_by_slice_svg(slice_metrics: Mapping[str, Mapping[str, float | None]]) -> str:
    """One panel per metric with a horizontal bar per slice."""
    slices = list(slice_metrics)
    metrics: list[str] = []
    for per_slice in slice_metrics.values():
        metrics.extend(m for m in per_slice if m not in metrics)
    labels = [t if len(t) <= 32 else t[:31] + "…" for t in map(str, slices)]
    lw = min(230.0, max([len(t) for t in labels] + [4]) * 6.6 + 12)
    bar_w, row, width = 300.0, 20.0, lw + 300.0 + 90
    body: list[str] = []
    y = 40.0
    for metric in metrics:
        vals = [_finite(slice_metrics[sl].get(metric)) for sl in slices]
        got = [v for v in vals if v is not None]
        lo, hi = min([0.0, *got]), max([0.0, *got])
        span = (hi - lo) or 1.0
        zero = lw + (0.0 - lo) / span * bar_w
        body.append(s.text(12, y + 14, metric, size=13, font_weight="600", class_="metric"))
        y += 22
        for i, (sl, lab, v) in enumerate(zip(slices, labels, vals, strict=True)):
            body.append(s.text(lw - 6, y + 14, lab, anchor="end", size=11, class_="slice-label"))
            if v is None:
                body.append(s.text(zero + 4, y + 14, "n/a", size=11, fill=s.MUTED))
            else:
                x0, x1 = sorted((zero, lw + (v - lo) / span * bar_w))
                tip = f"{sl} {metric} = {s.label(v)}"
                bar = s.rect(x0, y + 3, max(x1 - x0, 1.0), row - 6, s.color(i), class_="bar")
                body.append(f"<g>{bar}<title>{s.esc(tip)}</title></g>")
                body.append(s.text(max(x1, zero) + 4, y + 14, s.label(v), size=11, class_="value"))
            y += row
        body.append(f'<line x1="{s.num(zero)}" y1="{s.num(y - row * len(slices))}" x2="{s.num(zero)}" '
                    f'y2="{s.num(y)}" stroke="#999"/>')  # fmt: skip
        y += 12
    title = "Metrics by slice"
    body.insert(0, s.text(width / 2, 22, title, anchor="middle", size=14, font_weight="600"))
    return s.document(width, y + 8, title, body)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def line_chart_svg(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    """A metric across model versions or monitor windows: one line per series, points marked
    (with a hover tooltip when there are few). ``x_ticks`` overrides the x tick labels, e.g.
    ``[(1, "v1"), (2, "v2")]`` or formatted times."""
    pts = {name: np.asarray([(float(a), float(b)) for a, b in ps], dtype=np.float64).reshape(-1, 2)
           for name, ps in series.items()}  # fmt: skip
    allp = np.concatenate(list(pts.values())) if pts else np.empty((0, 2))
    allp = allp[np.isfinite(allp).all(axis=1)]
    xs = [t[0] for t in x_ticks or []]
    if allp.size:
        x_range = s.padded(min([allp[:, 0].min(), *xs]), max([allp[:, 0].max(), *xs]), 0.04)
        y_range = s.padded(float(allp[:, 1].min()), float(allp[:, 1].max()), 0.08)
    else:
        x_range, y_range = (0.0, 1.0), (0.0, 1.0)
    tick_names = {float(v): t for v, t in x_ticks or []}
    ax = s.Axes(title=title, x_label=x_label, y_label=y_label, x_range=x_range, y_range=y_range,
                x_ticks=_thin(list(x_ticks)) if x_ticks else None, legend_at="above")  # fmt: skip
    for i, (name, p) in enumerate(pts.items()):
        ax.line(p[:, 0], p[:, 1], s.color(i), name=name, cls="series")
        if len(p) <= 300:
            tips = [f"{name}: {tick_names.get(float(a), s.label(float(a)))} → {s.label(float(b))}" for a, b in p]
            ax.dots(p[:, 0], p[:, 1], s.color(i), r=3.5, tips=tips)
        else:
            ax.dots(p[:, 0], p[:, 1], s.color(i), r=2)
    if not allp.size:
        ax.note("no data yet")
    return ax.svg()


def _thin(ticks: list[tuple[float, str]], most: int = 12) -> list[tuple[float, str]]:
    """Every k-th tick so labels do not overlap."""
    step = max(1, math.ceil(len(ticks) / most))
    return ticks[::step]
