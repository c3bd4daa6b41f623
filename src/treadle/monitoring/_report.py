"""``DriftReport.to_html()``: one self-contained page (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from treadle.monitors import ColumnDrift

if TYPE_CHECKING:
    from treadle.monitoring._drift import DriftReport

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.drift{color:#b00020;font-weight:600}.ok{color:#1b5e20}.note{color:#666;font-size:.85em}
.verdict{padding:.6rem 1rem;border-radius:4px;display:inline-block;margin-bottom:1rem}
.verdict.drift{background:#fdecea}.verdict.ok{background:#e8f5e9}
svg .r{fill:#1f77b4;opacity:.55}svg .c{fill:#ff7f0e;opacity:.55}
"""


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    if math.isinf(v) or math.isnan(v):
        return str(v)
    return f"{v:.4g}"


def _bars(detail: dict[str, Any]) -> str:
    """Reference (blue) and current (orange) shares side by side, as an inline SVG."""
    ref, cur = detail.get("reference"), detail.get("current")
    if not ref or not cur:
        return ""
    w, h, n = 240, 48, len(ref)
    top = max(max(ref), max(cur), 1e-12)
    bw = w / n
    parts = []
    for i, (r, c) in enumerate(zip(ref, cur, strict=False)):
        for j, (v, cls) in enumerate(((r, "r"), (c, "c"))):
            bh = h * v / top
            x = i * bw + j * bw / 2
            parts.append(f'<rect class="{cls}" x="{x:.1f}" y="{h - bh:.1f}" width="{bw / 2:.1f}" height="{bh:.1f}"/>')
    labels = detail.get("categories")
    title = f"<title>{html.escape(', '.join(map(str, labels)))}</title>" if labels else ""
    return f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">{title}{"".join(parts)}</svg>'


def _row(d: ColumnDrift) -> str:
    verdict = '<span class="drift">drift</span>' if d.drifted else '<span class="ok">no drift</span>'
    note = f'<div class="note">{html.escape(d.note)}</div>' if d.note else ""
    return (
        f"<tr><td>{html.escape(d.column)}{note}</td><td>{d.kind}</td><td>{html.escape(d.test)}</td>"
        f'<td class="num">{_num(d.statistic)}</td><td class="num">{_num(d.p_value)}</td>'
        f'<td class="num">{_num(d.threshold)}</td><td>{verdict}</td><td>{_bars(d.detail)}</td></tr>'
    )


def _table(rows: list[ColumnDrift]) -> str:
    head = (
        "<tr><th>column</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th>"
        "<th>threshold</th><th>drifted</th><th>reference vs current</th></tr>"
    )
    return f"<table>{head}{''.join(_row(d) for d in rows)}</table>"


def render_html(report: DriftReport) -> str:
    """The whole page."""
    cls = "drift" if report.dataset_drift else "ok"
    tested = sum(1 for d in report.columns.values() if d.statistic is not None)
    verdict = (
        f'<div class="verdict {cls}">{"Dataset drift" if report.dataset_drift else "No dataset drift"}: '
        f"{len(report.drifted_columns)} of {tested} columns drifted (share {report.share:.3f}, "
        f"threshold {report.drift_share:.3f})</div>"
    )
    pred = f"<h2>Prediction</h2>{_table([report.prediction])}" if report.prediction else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>treadle drift report</title>'
        f"<style>{_CSS}</style></head><body><h1>Drift report</h1>{verdict}"
        f"<h2>Columns</h2>{_table(list(report.columns.values()))}{pred}"
        '<p class="note">Bars: share of rows per bin or category, reference (blue) and current (orange).</p>'
        "</body></html>"
    )
