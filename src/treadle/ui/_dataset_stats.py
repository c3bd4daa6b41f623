"""What the dataset pages draw: per-column statistics with histogram bars (inline SVG), sample cells."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from treadle.datasets import DatasetVersion

HIST_WIDTH = 160
HIST_HEIGHT = 36
THUMBNAILS = {".png", ".jpg", ".jpeg", ".gif", ".webp"}  # raster images a browser shows in <img>
MAX_CELL = 200  # characters of a sample value shown


@dataclass(frozen=True)
class Bar:
    """One histogram bar in SVG user units, with its hover label."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass
class ColumnView:
    name: str
    type: str
    nullable: bool
    stats: dict[str, Any] = field(default_factory=dict)
    bars: list[Bar] = field(default_factory=list)
    top: list[tuple[str, int, float]] = field(default_factory=list)  # value, count, percent of the largest


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def histogram_bars(hist: Any) -> list[Bar]:
    """Bars for ``{"edges": [...], "counts": [...]}`` scaled to the tallest; [] for anything else."""
    if not isinstance(hist, dict):
        return []
    edges, counts = hist.get("edges"), hist.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list) or len(edges) != len(counts) + 1 or not counts:
        return []
    try:
        values = [float(c) for c in counts]
        bounds = [float(e) for e in edges]
    except (TypeError, ValueError):
        return []
    tallest = max(values) or 1.0
    step = HIST_WIDTH / len(values)
    bars = []
    for i, count in enumerate(values):
        height = count / tallest * (HIST_HEIGHT - 1)
        label = f"[{_fmt(bounds[i])}, {_fmt(bounds[i + 1])}): {int(count):,}"
        bars.append(Bar(i * step, HIST_HEIGHT - height, max(step - 1, 1), height, label))
    return bars


def top_values(top: Any) -> list[tuple[str, int, float]]:
    """``[[value, count], ...]`` as (value, count, bar width in percent of the most frequent)."""
    if not isinstance(top, list):
        return []
    pairs = [(str(v), int(n)) for v, n in (item for item in top if isinstance(item, list) and len(item) == 2)]
    most = max((n for _, n in pairs), default=0) or 1
    return [(value, n, round(100 * n / most, 1)) for value, n in pairs]


def column_views(v: DatasetVersion) -> list[ColumnView]:
    """The version's columns with their statistics (a table's columns; nothing for a collection)."""
    if v.kind != "table":
        return []
    views = []
    for c in v.columns:
        stats = v.stats.get(c.name)
        stats = stats if isinstance(stats, dict) else {}
        views.append(
            ColumnView(
                c.name, c.type, c.nullable, stats, histogram_bars(stats.get("histogram")), top_values(stats.get("top"))
            )
        )
    return views


def extensions(v: DatasetVersion) -> list[tuple[str, int, int]]:
    """A file collection's (extension, files, bytes), most files first."""
    rows = [
        (key[4:], int(s.get("count", 0)), int(s.get("bytes", 0)))
        for key, s in v.stats.items()
        if key.startswith("ext:") and isinstance(s, dict)
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def is_thumbnail(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in THUMBNAILS


def cell(value: Any) -> str | None:
    """A sample value as text (None stays None: the page shows ``null``)."""
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
