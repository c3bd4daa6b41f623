"""Tiny SVG plotting primitives for the study charts: scales, "nice" ticks and axes.

The study charts are drawn on the server (like the pipeline DAG) so a study page is complete HTML:
no chart library or data round-trip, and every point carries a ``<title>`` tooltip and data attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 34


def fmt(v: float) -> str:
    """A tick or tooltip number, short: 0.001234 -> 0.00123, 1234567 -> 1.23e+06."""
    if v == 0:
        return "0"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


@dataclass(frozen=True)
class Scale:
    """Maps data [lo, hi] to pixels [a, b] (b < a for a y axis); log scales map log10 values."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool = False

    @classmethod
    def fit(cls, values: Sequence[float], a: float, b: float, log: bool = False, pad: float = 0.05) -> Scale:
        vals = [math.log10(v) if log else v for v in values if math.isfinite(v) and (v > 0 or not log)]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        span = hi - lo
        return cls(lo - pad * span, hi + pad * span, a, b, log)

    def __call__(self, v: float) -> float:
        x = math.log10(v) if self.log and v > 0 else v
        return self.a + (x - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def ticks(self, n: int = 5) -> list[float]:
        """Tick values in data units."""
        if self.log:
            return [10.0**e for e in range(math.ceil(self.lo), math.floor(self.hi) + 1)] or [10**self.lo]
        return [t for t in nice_ticks(self.lo, self.hi, n) if self.lo <= t <= self.hi]


def open_svg(cls: str, label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="plot {cls}" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    )


def axes(x: Scale, y: Scale, x_label: str, y_label: str, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """Grid lines with tick labels on both axes, the axis lines, and the axis titles."""
    out = []
    for t in y.ticks():
        py = y(t)
        out.append(f'<line class="grid-line" x1="{LEFT}" x2="{width - RIGHT}" y1="{py:.1f}" y2="{py:.1f}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    for t in x.ticks(8):
        px = x(t)
        out.append(f'<text x="{px:.1f}" y="{height - BOTTOM + 15}" text-anchor="middle">{fmt(t)}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" y1="{height - BOTTOM}" y2="{height - BOTTOM}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{height - BOTTOM}"/>')
    centre = (LEFT + width - RIGHT) / 2
    out.append(f'<text class="label" x="{centre:.0f}" y="{height - 3}" text-anchor="middle">{escape(x_label)}</text>')
    mid = (TOP + height - BOTTOM) / 2
    turn = f'transform="rotate(-90 12 {mid:.0f})"'
    out.append(f'<text class="label" x="12" y="{mid:.0f}" text-anchor="middle" {turn}>{escape(y_label)}</text>')
    return out


def colour(t: float) -> str:
    """A blue (t=0, best) to orange (t=1, worst) ramp for lines coloured by objective value."""
    t = min(max(t, 0.0), 1.0)
    a, b = (47, 111, 222), (230, 140, 60)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"
