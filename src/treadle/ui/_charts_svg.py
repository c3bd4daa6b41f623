"""Server-side SVG charts for the evaluation and monitor pages: multi-series line charts (over time
or a number), horizontal bars with error whiskers, and reference-vs-current histograms.

Like the study charts (:mod:`treadle.ui._studies_svg`, whose scales and axes they reuse) they are
complete HTML without a chart library; every point carries a ``<title>`` tooltip and data attributes
the browser tests read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from treadle.ui._studies_svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Scale, fmt, nice_ticks, open_svg

PALETTE = ("#2f6fde", "#e68c3c", "#22a06b", "#b04fd1", "#d15656", "#1f9bb5", "#8a6a2c", "#5e6470")
REFERENCE, CURRENT = "#9bb7ec", "#e68c3c"
Point = tuple[float, float]


def _time_label(ms: float, span_ms: float) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%H:%M:%S" if span_ms < 3_600_000 else "%m-%d %H:%M")


def _axes(x: Scale, y: Scale, x_label: str, y_label: str, time_x: bool, x_ticks: Sequence[float] | None) -> list[str]:
    """Grid, tick labels (times as UTC clock labels), axis lines and titles."""
    out = []
    for t in y.ticks():
        py = y(t)
        out.append(f'<line class="grid-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    if x_ticks is None:
        x_ticks = [t for t in nice_ticks(x.lo, x.hi, 4 if time_x else 8) if x.lo <= t <= x.hi]
    span = x.hi - x.lo
    for t in x_ticks:
        label = _time_label(t, span) if time_x else fmt(t)
        px = x(t)
        anchor = "end" if px > WIDTH - RIGHT - 30 else ("start" if px < LEFT + 10 else "middle")  # not clipped
        out.append(f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="{anchor}">{escape(label)}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
    centre, mid = (LEFT + WIDTH - RIGHT) / 2, (TOP + HEIGHT - BOTTOM) / 2
    out.append(f'<text class="label" x="{centre:.0f}" y="{HEIGHT - 3}" text-anchor="middle">{escape(x_label)}</text>')
    turn = f'transform="rotate(-90 12 {mid:.0f})"'
    out.append(f'<text class="label" x="12" y="{mid:.0f}" text-anchor="middle" {turn}>{escape(y_label)}</text>')
    return out


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    time_x: bool = False,
    threshold: float | None = None,
    marked: Mapping[str, set[float]] | None = None,
    x_ticks: Sequence[float] | None = None,
    floor: float | None = None,
    cls: str = "timeseries",
) -> Markup:
    """One line (and dots) per series; ``threshold`` a dashed red line; ``marked`` x values of a series
    drawn as red dots (drifted windows); ``floor`` the lowest y shown (0 for shares). Non-finite
    values are left out."""
    finite = {k: [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)] for k, pts in series.items()}
    xs = [x for pts in finite.values() for x, _ in pts]
    ys = [y for pts in finite.values() for _, y in pts] + ([threshold] if threshold is not None else [])
    x = Scale.fit(xs or [0.0], LEFT, WIDTH - RIGHT, pad=0.03)
    y = Scale.fit(ys or [0.0], HEIGHT - BOTTOM, TOP)
    if floor is not None and y.lo < floor:  # shares never go below 0: no empty band under the axis
        y = Scale(floor, max(y.hi, floor + 1e-9) if y.hi > floor else floor + 1.0, HEIGHT - BOTTOM, TOP)
    parts = [open_svg(cls, title), f"<title>{escape(title)}</title>", *_axes(x, y, x_label, y_label, time_x, x_ticks)]
    if threshold is not None and math.isfinite(threshold):
        py = y(threshold)
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}">'
            f"<title>threshold {fmt(threshold)}</title></line>"
        )
    for i, (name, pts) in enumerate(finite.items()):
        shade = PALETTE[i % len(PALETTE)]
        label = escape(name)
        if len(pts) > 1:
            d = " ".join(f"{'M' if j == 0 else 'L'}{x(a):.1f},{y(b):.1f}" for j, (a, b) in enumerate(pts))
            parts.append(f'<path class="series" data-series="{label}" stroke="{shade}" d="{d}"/>')
        hot = (marked or {}).get(name, set())
        for a, b in pts:
            where = _time_label(a, 0) if time_x else fmt(a)
            extra = " marked" if a in hot else ""
            parts.append(
                f'<circle class="point{extra}" data-series="{label}" data-x="{a!r}" data-value="{b!r}" '
                f'cx="{x(a):.1f}" cy="{y(b):.1f}" r="3.2" style="fill:{"#d15656" if extra else shade}">'
                f"<title>{label} at {escape(where)}: {fmt(b)}</title></circle>"
            )
    if len(finite) > 1:  # a legend, top right
        for i, name in enumerate(finite):
            ly = TOP + 4 + 14 * i
            shade = PALETTE[i % len(PALETTE)]
            parts.append(f'<rect x="{WIDTH - RIGHT - 150}" y="{ly}" width="10" height="3" fill="{shade}"/>')
            parts.append(f'<text class="legend" x="{WIDTH - RIGHT - 136}" y="{ly + 5}">{escape(name)}</text>')
    if not xs:
        parts.append(
            f'<text class="label" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle">no data</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(values: dict[str, tuple[float, float | None]], *, title: str, cls: str = "bars") -> Markup:
    """Horizontal bars, largest |value| first, with a ±spread whisker; negative values go left of zero."""
    rows = sorted(values.items(), key=lambda kv: -abs(kv[1][0]))
    bar_h, gap, label_w = 16, 6, 160
    height = TOP + len(rows) * (bar_h + gap) + 8
    lo = min([0.0, *(v - (s or 0.0) for v, s in values.values())])
    hi = max([0.0, *(v + (s or 0.0) for v, s in values.values())])
    x = Scale(lo, hi if hi > lo else lo + 1.0, label_w, WIDTH - 70)
    parts = [open_svg(cls, title, WIDTH, height), f"<title>{escape(title)}</title>"]
    parts.append(f'<line class="axis" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{TOP - 4}" y2="{height - 4}"/>')
    for i, (name, (v, spread)) in enumerate(rows):
        top = TOP + i * (bar_h + gap)
        a, b = sorted((x(0), x(v)))
        sign = "neg" if v < 0 else "pos"
        parts.append(f'<text class="label" x="{label_w - 8}" y="{top + 12}" text-anchor="end">{escape(name)}</text>')
        parts.append(
            f'<rect class="bar {sign}" data-feature="{escape(name)}" data-value="{v!r}" x="{a:.1f}" y="{top}" '
            f'width="{max(b - a, 0.5):.1f}" height="{bar_h}" rx="2"><title>{escape(name)}: {fmt(v)}'
            f"{f' ± {fmt(spread)}' if spread else ''}</title></rect>"
        )
        if spread:
            mid = top + bar_h / 2
            parts.append(
                f'<line class="whisker" x1="{x(v - spread):.1f}" x2="{x(v + spread):.1f}" y1="{mid}" y2="{mid}"/>'
            )
        parts.append(f'<text x="{max(a, b) + 6:.1f}" y="{top + 12}">{fmt(v)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _shares(counts: Sequence[float]) -> list[float]:
    clean = [c if isinstance(c, int | float) and math.isfinite(c) else 0.0 for c in counts]
    total = sum(clean)
    return [c / total if total else 0.0 for c in clean]


def histogram(detail: dict[str, object], column: str) -> Markup | None:
    """Reference vs current shares per bin (``edges``) or per category (``categories``) from a
    :class:`~treadle.monitors.ColumnDrift` detail; None when the detail has neither."""
    ref, cur = detail.get("reference"), detail.get("current")
    if not isinstance(ref, list) or not isinstance(cur, list) or len(ref) != len(cur) or not ref:
        return None
    edges, cats = detail.get("edges"), detail.get("categories")
    if isinstance(edges, list) and len(edges) == len(ref) + 1:
        labels = [f"{fmt(float(edges[i]))} to {fmt(float(edges[i + 1]))}" for i in range(len(ref))]
        ticks = [fmt(float(e)) for e in edges]
    elif isinstance(cats, list) and len(cats) == len(ref):
        labels, ticks = [str(c) for c in cats], []
    else:
        return None
    rs, cs = _shares(ref), _shares(cur)
    n = len(labels)
    y = Scale.fit([0.0, *rs, *cs], HEIGHT - BOTTOM, TOP, pad=0.0)
    y = Scale(0.0, y.hi * 1.08 or 1.0, HEIGHT - BOTTOM, TOP)
    slot = (WIDTH - RIGHT - LEFT) / n
    parts = [open_svg("histogram", f"{column}: reference vs current"), f"<title>{escape(column)}</title>"]
    for t in y.ticks():
        py = y(t)
        parts.append(f'<line class="grid-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    w = slot * 0.4
    for i, label in enumerate(labels):
        left = LEFT + i * slot + slot * 0.1
        for k, (share, kind, shade) in enumerate(((rs[i], "reference", REFERENCE), (cs[i], "current", CURRENT))):
            top = y(share)
            parts.append(
                f'<rect class="bar {kind}" data-bin="{escape(label)}" data-share="{share!r}" x="{left + k * w:.1f}" '
                f'y="{top:.1f}" width="{w:.1f}" height="{HEIGHT - BOTTOM - top:.1f}" style="fill:{shade}">'
                f"<title>{escape(label)} · {kind}: {share:.1%}</title></rect>"
            )
    step = max(1, math.ceil(n / 10))  # at most ~10 labels under the bars
    if ticks:
        for i in range(0, n + 1, step):
            px = LEFT + i * slot
            parts.append(
                f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle">{escape(ticks[i])}</text>'
            )
    else:
        for i in range(0, n, step):
            px = LEFT + (i + 0.5) * slot
            parts.append(
                f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle">{escape(labels[i][:14])}</text>'
            )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>')
    for k, (kind, shade) in enumerate((("reference", REFERENCE), ("current", CURRENT))):
        ly = TOP + 4 + 14 * k
        parts.append(f'<rect x="{WIDTH - RIGHT - 110}" y="{ly}" width="10" height="8" fill="{shade}"/>')
        parts.append(f'<text class="legend" x="{WIDTH - RIGHT - 96}" y="{ly + 8}">{kind}</text>')
    centre = (LEFT + WIDTH) / 2
    parts.append(f'<text class="label" x="{centre:.0f}" y="{HEIGHT - 3}" text-anchor="middle">{escape(column)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
