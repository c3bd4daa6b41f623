"""A tiny SVG drawing kit for the evaluation plots: axes with ticks and a grid, polylines, dots,
rectangles, text and a legend.

Why not matplotlib: it is an optional (demo) dependency, it is slow to import, and its SVGs are
large. These charts are plain standalone SVG text (``viewBox``-scaled, no JavaScript, readable on a
light background) that the UI inlines or serves as artifacts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

# Okabe-Ito, readable by colour-blind viewers and on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
INK = "#222"
GRID = "#e5e5e5"
MUTED = "#888"
FONT = "system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def esc(text: object) -> str:
    """``text`` safe inside an element or a double-quoted attribute."""
    return escape(str(text), {'"': "&quot;"})


def num(v: float) -> str:
    """A coordinate with at most two decimals (keeps the SVG small)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def label(v: float) -> str:
    """A tick or value label: short, no float noise."""
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.2g}"
    return f"{v:.4g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def padded(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    """[lo, hi] widened a little (and made non-empty) so marks do not sit on the frame."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * frac
    return lo - pad, hi + pad


def document(width: float, height: float, title: str, body: Sequence[str]) -> str:
    """A standalone SVG: scales to its container (viewBox), white background, a <title>."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {num(width)} {num(height)}" '
        f'preserveAspectRatio="xMidYMid meet" style="max-width:100%;height:auto" role="img" '
        f'font-family="{FONT}" font-size="12" fill="{INK}">'
        f"<title>{esc(title)}</title>"
        f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>"
    )


def _attrs(attrs: dict[str, str]) -> str:
    """Keyword arguments as SVG attributes: ``class_`` -> class, ``font_weight`` -> font-weight."""
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())


def text(x: float, y: float, content: object, *, anchor: str = "start", size: float = 12, **attrs: str) -> str:
    extra = _attrs(attrs)
    return (
        f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" font-size="{num(size)}"{extra}>{esc(content)}</text>'
    )


def rect(x: float, y: float, w: float, h: float, fill: str, **attrs: str) -> str:
    extra = _attrs(attrs)
    return f'<rect x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}" height="{num(max(h, 0))}" fill="{fill}"{extra}/>'


class Axes:
    """A plot area with linear x and y scales, ticks, a grid, a title, axis labels and a legend.

    Add marks with the methods below (data coordinates), then ``svg()``.
    """

    def __init__(
        self,
        *,
        title: str,
        x_label: str,
        y_label: str,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        width: float = 560,
        height: float = 420,
        x_ticks: Sequence[tuple[float, str]] | None = None,
        y_ticks: Sequence[tuple[float, str]] | None = None,
        square: bool = False,
        legend_at: str = "top-right",
    ) -> None:
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 64.0, 16.0, 36.0, 48.0
        if legend_at == "above":  # a row of legend entries between the title and the plot
            self.top += 20
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if square:  # equal pixel scales for unit-square plots (ROC, calibration)
            side = min(width - self.left - self.right, height - self.top - self.bottom)
            self.width = width = self.left + side + self.right
            self.height = height = self.top + side + self.bottom
        self.pw = width - self.left - self.right
        self.ph = height - self.top - self.bottom
        self.x_ticks = list(x_ticks) if x_ticks is not None else [(t, label(t)) for t in nice_ticks(*x_range)]
        self.y_ticks = list(y_ticks) if y_ticks is not None else [(t, label(t)) for t in nice_ticks(*y_range)]
        self.marks: list[str] = []
        self.legend: list[tuple[str, str, bool]] = []  # (text, colour, dashed)
        # "top-right" | "bottom-right" | "bottom-left" (inside, where curves are not) | "above"
        self.legend_at = legend_at

    def sx(self, x: np.ndarray | float) -> np.ndarray:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (np.asarray(x, dtype=float) - self.x0) / span * self.pw

    def sy(self, y: np.ndarray | float) -> np.ndarray:
        span = (self.y1 - self.y0) or 1.0
        return self.top + self.ph - (np.asarray(y, dtype=float) - self.y0) / span * self.ph

    def _coords(self, x: np.ndarray, y: np.ndarray) -> list[tuple[str, str]]:
        px, py = self.sx(x), self.sy(y)
        ok = np.isfinite(px) & np.isfinite(py)
        return [(num(a), num(b)) for a, b in zip(px[ok].tolist(), py[ok].tolist(), strict=True)]

    def line(
        self,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        stroke: str,
        *,
        name: str | None = None,
        width: float = 2,
        dashed: bool = False,
        cls: str = "curve",
    ) -> None:
        """A polyline through the points (non-finite points are skipped)."""
        pts = " ".join(f"{a},{b}" for a, b in self._coords(np.asarray(x), np.asarray(y)))
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        title = f"<title>{esc(name)}</title>" if name else ""
        self.marks.append(
            f'<polyline class="{cls}" points="{pts}" fill="none" stroke="{stroke}" stroke-width="{num(width)}" '
            f'stroke-linejoin="round"{dash}>{title}</polyline>'
        )
        if name:
            self.legend.append((name, stroke, dashed))

    def dots(
        self,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        fill: str,
        *,
        r: float = 2.5,
        opacity: float = 1.0,
        name: str | None = None,
        tips: Sequence[str] | None = None,
    ) -> None:
        """Point markers. Without ``tips`` all points are one compact ``<path>`` (round-capped
        zero-length segments); with ``tips`` each is a ``<circle>`` with a hover ``<title>``."""
        coords = self._coords(np.asarray(x), np.asarray(y))
        if tips is not None:
            px, py = self.sx(np.asarray(x)), self.sy(np.asarray(y))
            for a, b, tip in zip(px.tolist(), py.tolist(), tips, strict=False):
                if math.isfinite(a) and math.isfinite(b):
                    self.marks.append(
                        f'<circle class="point" cx="{num(a)}" cy="{num(b)}" r="{num(r)}" fill="{fill}" '
                        f'stroke="#fff" stroke-width="1"><title>{esc(tip)}</title></circle>'
                    )
        elif coords:
            d = "".join(f"M{a} {b}h0" for a, b in coords)
            self.marks.append(
                f'<path class="points" d="{d}" stroke="{fill}" stroke-width="{num(2 * r)}" '
                f'stroke-linecap="round" stroke-opacity="{num(opacity)}" fill="none"/>'
            )
        if name:
            self.legend.append((name, fill, False))

    def hline(self, y: float, stroke: str = MUTED, dashed: bool = True) -> None:
        self.line([self.x0, self.x1], [y, y], stroke, width=1, dashed=dashed, cls="guide")

    def note(self, content: str) -> None:
        """Grey text centred in the plot area (e.g. why a curve is missing)."""
        self.marks.append(
            text(self.left + self.pw / 2, self.top + self.ph / 2, content, anchor="middle", fill=MUTED, size=13)
        )

    def svg(self) -> str:
        parts: list[str] = []
        lx, t, w, h = self.left, self.top, self.pw, self.ph
        for v, lab in self.x_ticks:
            px = float(self.sx(v))
            if lx - 0.5 <= px <= lx + w + 0.5:
                parts.append(f'<line x1="{num(px)}" y1="{num(t)}" x2="{num(px)}" y2="{num(t + h)}" stroke="{GRID}"/>')
                parts.append(text(px, t + h + 16, lab, anchor="middle", size=11, class_="tick"))
        for v, lab in self.y_ticks:
            py = float(self.sy(v))
            if t - 0.5 <= py <= t + h + 0.5:
                parts.append(f'<line x1="{num(lx)}" y1="{num(py)}" x2="{num(lx + w)}" y2="{num(py)}" stroke="{GRID}"/>')
                parts.append(text(lx - 6, py + 4, lab, anchor="end", size=11, class_="tick"))
        parts.append(rect(lx, t, w, h, "none", stroke="#bbb"))
        # Marks are clipped to the plot area so padded ranges never spill onto the labels. The id
        # is derived from the geometry: several inlined SVGs on one page share an id only when
        # their clip rectangles are the same.
        cid = "clip-" + "-".join(num(v).replace(".", "_") for v in (lx, t, w, h))
        parts.append(
            f'<clipPath id="{cid}"><rect x="{num(lx)}" y="{num(t)}" width="{num(w)}" height="{num(h)}"/></clipPath>'
        )
        parts.append(f'<g clip-path="url(#{cid})">' + "".join(self.marks) + "</g>")
        parts.append(text(self.width / 2, 22, self.title, anchor="middle", size=14, font_weight="600"))
        parts.append(text(lx + w / 2, self.height - 10, self.x_label, anchor="middle"))
        parts.append(text(16, t + h / 2, self.y_label, anchor="middle", transform=f"rotate(-90 16 {num(t + h / 2)})"))
        parts.append(self._legend())
        return document(self.width, self.height, self.title, parts)

    def _legend(self) -> str:
        if not self.legend:
            return ""
        if self.legend_at == "above":
            return self._legend_row()
        rows = self.legend[:12]
        lw = min(max(len(n) for n, _, _ in rows) * 6.5 + 34, self.pw * 0.7)
        lh = len(rows) * 17 + 6
        x = self.left + 6 if self.legend_at.endswith("left") else self.left + self.pw - lw - 6
        y = self.top + self.ph - lh - 6 if self.legend_at.startswith("bottom") else self.top + 6
        out = [rect(x, y, lw, lh, "#fff", fill_opacity="0.9", stroke="#ccc", class_="legend")]
        for i, (name, stroke, dashed) in enumerate(rows):
            cy = y + 12 + i * 17
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            out.append(
                f'<line x1="{num(x + 6)}" y1="{num(cy)}" x2="{num(x + 24)}" y2="{num(cy)}" stroke="{stroke}" '
                f'stroke-width="2.5"{dash}/>'
            )
            out.append(text(x + 30, cy + 4, name, size=11, class_="legend-label"))
        return "<g>" + "".join(out) + "</g>"

    def _legend_row(self) -> str:
        out, x, y = [], self.left, self.top - 12
        for name, stroke, dashed in self.legend:
            shown = name if len(name) <= 30 else name[:29] + "…"
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            out.append(
                f'<line x1="{num(x)}" y1="{num(y)}" x2="{num(x + 18)}" y2="{num(y)}" stroke="{stroke}" '
                f'stroke-width="2.5"{dash}/>'
            )
            out.append(text(x + 23, y + 4, shown, size=11, class_="legend-label"))
            x += len(shown) * 6.5 + 40
        return "<g>" + "".join(out) + "</g>"
