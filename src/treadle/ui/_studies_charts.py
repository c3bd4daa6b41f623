"""The study page's charts as SVG: optimization history, parallel coordinates, parameter importance
and the Pareto front, drawn from Optuna's trials (see :mod:`treadle.ui._studies_svg`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial

from treadle.ui._studies_svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Scale, axes, colour, fmt, open_svg

PC_WIDTH, PC_HEIGHT = 760, 280


def _value(t: FrozenTrial, k: int) -> float | None:
    values = t.values
    if not values or k >= len(values) or values[k] is None or not math.isfinite(values[k]):
        return None
    return float(values[k])


def history(trials: Sequence[FrozenTrial], direction: str, k: int = 0, name: str = "objective") -> Markup:
    """Each completed trial's value by trial number, and the best value so far as a step line."""
    done = [(t.number, v) for t in trials if (v := _value(t, k)) is not None]
    x = Scale.fit([n for n, _ in done] or [0.0], LEFT, WIDTH - RIGHT, pad=0.03)
    y = Scale.fit([v for _, v in done] or [0.0], HEIGHT - BOTTOM, TOP)
    parts = [open_svg("history", f"optimization history of {name}"), *axes(x, y, "trial", name)]
    best: float | None = None
    line: list[str] = []
    for n, v in done:
        if best is None or (v < best if direction == "minimize" else v > best):
            if best is not None:
                line.append(f"L{x(n):.1f},{y(best):.1f}")
            best = v
        line.append(f"{'M' if not line else 'L'}{x(n):.1f},{y(best):.1f}")
    if line:
        parts.append(f'<path class="best-line" d="{" ".join(line)}"><title>best so far</title></path>')
    for n, v in done:
        parts.append(
            f'<circle class="point" data-trial="{n}" data-value="{float(v)!r}" cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5">'
            f"<title>trial {n}: {fmt(v)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis_scale(dist: object, values: list[object], a: float, b: float) -> tuple[Scale, list[str] | None]:
    """A parameter axis: log/linear for numbers, evenly spaced slots for categories (returned too)."""
    if isinstance(dist, CategoricalDistribution):
        labels = [str(c) for c in dist.choices]
        return Scale(-0.5, len(labels) - 0.5, a, b), labels
    log = isinstance(dist, FloatDistribution | IntDistribution) and dist.log
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if isinstance(dist, FloatDistribution | IntDistribution):
        nums += [dist.low, dist.high]
    return Scale.fit(nums or [0.0], a, b, log=log, pad=0.0), None


def parallel_coordinates(
    trials: Sequence[FrozenTrial], params: Sequence[str], direction: str, k: int = 0, name: str = "objective"
) -> Markup:
    """One vertical axis per parameter and one for the objective; each completed trial a polyline
    across them, coloured from best (blue) to worst (orange). A parameter a trial did not sample
    (conditional spaces) breaks its line there."""
    done = [(t, v) for t in trials if (v := _value(t, k)) is not None]
    columns = [*params, name]
    top, bottom = TOP + 14, PC_HEIGHT - 20
    gap = (PC_WIDTH - 2 * LEFT) / max(len(columns) - 1, 1)
    xs = [LEFT + i * gap for i in range(len(columns))]
    scales: list[tuple[Scale, list[str] | None]] = []
    for p in params:
        dist = next((t.distributions[p] for t, _ in done if p in t.distributions), None)
        scales.append(_axis_scale(dist, [t.params.get(p) for t, _ in done], bottom, top))
    obj = Scale.fit([v for _, v in done] or [0.0], bottom, top, pad=0.0)
    scales.append((obj, None))
    parts = [open_svg("parallel", "parallel coordinates", PC_WIDTH, PC_HEIGHT)]
    lo, hi = obj.lo, obj.hi
    ordered = sorted(done, key=lambda tv: tv[1], reverse=direction == "minimize")  # best drawn last, on top
    for t, v in ordered:
        worst = (v - lo) / (hi - lo) if hi > lo else 0.0
        shade = colour(worst if direction == "minimize" else 1 - worst)
        segs, pen = [], "M"
        for i, p in enumerate(columns):
            scale, labels = scales[i]
            raw = v if i == len(params) else t.params.get(p)
            if raw is None:
                pen = "M"
                continue
            pos = labels.index(str(raw)) if labels is not None and str(raw) in labels else raw
            if not isinstance(pos, int | float):
                pen = "M"
                continue
            segs.append(f"{pen}{xs[i]:.1f},{scale(float(pos)):.1f}")
            pen = "L"
        parts.append(
            f'<path class="pc-line" data-trial="{t.number}" stroke="{shade}" d="{" ".join(segs)}">'
            f"<title>trial {t.number}: {fmt(v)}</title></path>"
        )
    for i, col in enumerate(columns):
        scale, labels = scales[i]
        parts.append(f'<line class="axis" x1="{xs[i]:.1f}" x2="{xs[i]:.1f}" y1="{top}" y2="{bottom}"/>')
        head = f'class="label" data-axis="{escape(col)}" x="{xs[i]:.1f}" y="{TOP + 2}" text-anchor="middle"'
        parts.append(f"<text {head}>{escape(col)}</text>")
        ticks = [(float(j), lab) for j, lab in enumerate(labels)] if labels else [(t, fmt(t)) for t in scale.ticks(4)]
        for tv, lab in ticks[:12]:
            parts.append(f'<text x="{xs[i] + 4:.1f}" y="{scale(tv) + 4:.1f}">{escape(lab)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def importance_bars(importances: dict[str, float]) -> Markup:
    """Horizontal bars of each parameter's importance (they sum to 1), most important first."""
    rows = sorted(importances.items(), key=lambda kv: -kv[1])
    bar_h, gap, label_w = 18, 6, 150
    height = TOP + len(rows) * (bar_h + gap) + 4
    width = WIDTH
    parts = [open_svg("importance", "parameter importance", width, height)]
    top = max((v for _, v in rows), default=1.0) or 1.0
    for i, (param, v) in enumerate(rows):
        y = TOP + i * (bar_h + gap)
        w = (width - label_w - 70) * v / top
        parts.append(f'<text class="label" x="{label_w - 8}" y="{y + 13}" text-anchor="end">{escape(param)}</text>')
        parts.append(
            f'<rect class="bar" data-param="{escape(param)}" data-importance="{float(v)!r}" x="{label_w}" y="{y}" '
            f'width="{w:.1f}" height="{bar_h}" rx="3"><title>{escape(param)}: {v:.3f}</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 13}">{v:.3f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def pareto_front(trials: Sequence[FrozenTrial], best: Sequence[FrozenTrial], names: Sequence[str]) -> Markup:
    """Completed trials on the first two objectives; the Pareto-optimal ones (``best``) red and joined."""
    done = [(t, a, b) for t in trials if (a := _value(t, 0)) is not None and (b := _value(t, 1)) is not None]
    front = {t.number for t in best}
    x = Scale.fit([a for _, a, _ in done] or [0.0], LEFT, WIDTH - RIGHT)
    y = Scale.fit([b for _, _, b in done] or [0.0], HEIGHT - BOTTOM, TOP)
    parts = [open_svg("pareto", "Pareto front"), *axes(x, y, names[0], names[1])]
    line = sorted((a, b) for t, a, b in done if t.number in front)
    if len(line) > 1:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x(a):.1f},{y(b):.1f}" for i, (a, b) in enumerate(line))
        parts.append(f'<path class="best-line" d="{d}"/>')
    for t, a, b in done:
        cls, r = ("point pareto", 4) if t.number in front else ("point", 3)
        parts.append(
            f'<circle class="{cls}" data-trial="{t.number}" cx="{x(a):.1f}" cy="{y(b):.1f}" r="{r}">'
            f"<title>trial {t.number}: {fmt(a)}, {fmt(b)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def intermediate_values(trials: Sequence[FrozenTrial]) -> Markup:
    """Each trial's reported intermediate values by step (what the pruner judged): pruned trials'
    curves stop early and are drawn in orange."""
    curves = [(t, sorted(t.intermediate_values.items())) for t in trials if t.intermediate_values]
    steps = [s for _, c in curves for s, _ in c]
    values = [v for _, c in curves for _, v in c if math.isfinite(v)]
    x = Scale.fit(steps or [0.0], LEFT, WIDTH - RIGHT, pad=0.02)
    y = Scale.fit(values or [0.0], HEIGHT - BOTTOM, TOP)
    parts = [open_svg("intermediate", "intermediate values"), *axes(x, y, "step", "intermediate value")]
    for t, c in curves:
        points = [(s, v) for s, v in c if math.isfinite(v)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{x(s):.1f},{y(v):.1f}" for i, (s, v) in enumerate(points))
        state = t.state.name.lower()
        shade = "#e68c3c" if state == "pruned" else "#2f6fde"
        parts.append(
            f'<path class="pc-line curve {state}" data-trial="{t.number}" stroke="{shade}" d="{d}">'
            f"<title>trial {t.number} ({state}): {len(points)} values</title></path>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
