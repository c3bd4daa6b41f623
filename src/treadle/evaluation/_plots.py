"""Evaluation plots as standalone SVG text: ROC, PR, confusion matrix, calibration (classification),
residuals and predicted-vs-actual (regression), metric by slice, and a line chart for histories.

``td.evaluate`` stores each as ``evaluation/plots/<name>.svg``; the UI inlines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.evaluation import _svg as s
from treadle.evaluation._charts import line_chart_svg, metric_by_slice_svg
from treadle.evaluation._curves import (
    Counts,
    auc,
    average_precision,
    calibration_points,
    counts_at_thresholds,
    downsample,
    pr_points,
    roc_points,
)

__all__ = ["line_chart_svg", "metric_by_slice_svg", "plots"]

MAX_CURVES = 10  # multiclass: one-vs-rest curves for the most frequent classes only
MAX_MATRIX = 40  # confusion matrix: the most frequent classes only
MAX_SCATTER = 2_000
MAX_CURVE_POINTS = 500
UNIT = (-0.02, 1.02)  # probability axes, padded so markers on 0 and 1 are not clipped


def plots(
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    slice_metrics: Mapping[str, Mapping[str, float | None]] | None = None,
) -> dict[str, str]:
    """The plots for ``task`` as ``{name: svg_text}``.

    Classification: ``confusion_matrix`` always; ``roc``, ``pr`` and ``calibration`` when ``proba``
    (n x len(classes), or the positive-class column for binary) is given. Regression: ``residuals``
    and ``predicted_vs_actual``. Any task: ``metric_by_slice`` when ``slice_metrics``
    (``{slice_label: {metric: value}}``) is given.
    """
    out: dict[str, str] = {}
    if task == "classification":
        out.update(_classification(y_true, y_pred, proba, classes))
    elif task == "regression":
        out.update(_regression(y_true, y_pred))
    elif task != "ranking":
        raise InvalidArgument(f"unknown task {task!r}; expected 'classification', 'regression' or 'ranking'")
    if slice_metrics:
        out["metric_by_slice"] = metric_by_slice_svg(slice_metrics)
    return out


# --- classification ---------------------------------------------------------------------------


def _classification(y_true: Any, y_pred: Any, proba: Any, classes: Sequence[Any] | None) -> dict[str, str]:
    yt = _column(y_true, "y_true")
    p = None
    if proba is not None:
        p = np.asarray(proba, dtype=np.float64)
        if p.ndim == 1:  # binary: the positive-class probability
            p = np.column_stack([1.0 - p, p])
        if p.ndim != 2 or p.shape[0] != yt.size:
            raise InvalidArgument(f"proba must have shape ({yt.size}, n_classes); got {np.shape(proba)}")
    if y_pred is None and p is None:
        raise InvalidArgument("classification plots need y_pred or proba")
    yp = None if y_pred is None else _column(y_pred, "y_pred")
    if yp is not None and yp.size != yt.size:
        raise InvalidArgument(f"y_true has {yt.size} rows but y_pred has {yp.size}")
    if classes is None:
        seen = pd.unique(np.concatenate([yt, yp]) if yp is not None else yt)
        try:
            classes = sorted(seen.tolist())
        except TypeError:
            classes = list(seen)
    labels = list(classes)
    if not pd.Index(labels).is_unique:
        raise InvalidArgument(f"classes must be unique; got {labels}")
    if p is not None and p.shape[1] != len(labels):
        raise InvalidArgument(
            f"proba has {p.shape[1]} columns but there are {len(labels)} classes ({labels}); "
            "pass classes= in the order of proba's columns"
        )
    index = pd.Index(labels)
    ti = index.get_indexer(yt)
    pi = index.get_indexer(yp) if yp is not None else np.argmax(np.asarray(p), axis=1)
    names = [str(c) for c in labels]
    out = {"confusion_matrix": confusion_matrix_svg(ti, pi, names)}
    if p is not None:
        # One sort per drawn class, shared by ROC and PR.
        counts = {k: counts_at_thresholds(ti == k, p[:, k]) for k in _curve_classes(ti, names)}
        out["roc"] = _roc_svg(ti, p, names, counts)
        out["pr"] = _pr_svg(ti, p, names, counts)
        out["calibration"] = _calibration_svg(ti, p, names)
    return out


def _column(values: Any, what: str) -> np.ndarray:
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidArgument(f"{what} must be one column of values; got shape {arr.shape}")
    return arr


def _curve_classes(ti: np.ndarray, names: list[str]) -> list[int]:
    """Which class columns get a curve: the positive class for binary, else the most frequent."""
    if len(names) == 2:
        return [1]
    freq = np.bincount(ti[ti >= 0], minlength=len(names))
    return sorted(np.argsort(-freq, kind="stable")[:MAX_CURVES].tolist())


def _title(base: str, ti: np.ndarray, names: list[str]) -> str:
    if len(names) == 2:
        return f"{base} (positive class: {names[1]})"
    shown = min(len(names), MAX_CURVES)
    return f"{base} (one-vs-rest, {shown} of {len(names)} classes)" if shown < len(names) else f"{base} (one-vs-rest)"


def _roc_svg(ti: np.ndarray, p: np.ndarray, names: list[str], counts: dict[int, Counts]) -> str:
    ax = s.Axes(title=_title("ROC", ti, names), x_label="False positive rate", y_label="True positive rate",
                x_range=UNIT, y_range=UNIT, square=True, legend_at="bottom-right")  # fmt: skip
    ax.line([0, 1], [0, 1], s.MUTED, width=1, dashed=True, cls="guide")
    drawn = 0
    for n, k in enumerate(_curve_classes(ti, names)):
        pos = ti == k
        if not pos.any() or pos.all():
            continue  # ROC needs both positives and negatives of this class
        fpr, tpr, _ = roc_points(pos, p[:, k], counts[k])
        keep = downsample(fpr, tpr, MAX_CURVE_POINTS)
        prefix = "" if len(names) == 2 else f"{names[k]}: "
        ax.line(fpr[keep], tpr[keep], s.color(n), name=f"{prefix}AUC = {auc(fpr, tpr):.3f}")
        drawn += 1
    if not drawn:
        ax.note("ROC needs both classes in y_true")
    return ax.svg()


def _pr_svg(ti: np.ndarray, p: np.ndarray, names: list[str], counts: dict[int, Counts]) -> str:
    ax = s.Axes(title=_title("Precision-recall", ti, names), x_label="Recall", y_label="Precision",
                x_range=UNIT, y_range=UNIT, square=True, legend_at="bottom-left")  # fmt: skip
    drawn = 0
    for n, k in enumerate(_curve_classes(ti, names)):
        pos = ti == k
        if not pos.any():
            continue
        precision, recall, _ = pr_points(pos, p[:, k], counts[k])
        keep = downsample(recall, precision, MAX_CURVE_POINTS)
        prefix = "" if len(names) == 2 else f"{names[k]}: "
        ax.line(
            recall[keep], precision[keep], s.color(n), name=f"{prefix}AP = {average_precision(precision, recall):.3f}"
        )
        if len(names) == 2:  # a random classifier's precision
            ax.hline(float(pos.mean()))
        drawn += 1
    if not drawn:
        ax.note("precision-recall needs positives in y_true")
    return ax.svg()


def _calibration_svg(ti: np.ndarray, p: np.ndarray, names: list[str]) -> str:
    ax = s.Axes(title=_title("Calibration", ti, names), x_label="Mean predicted probability",
                y_label="Fraction of positives", x_range=UNIT, y_range=UNIT, square=True,
                legend_at="bottom-right")  # fmt: skip
    ax.line([0, 1], [0, 1], s.MUTED, width=1, dashed=True, cls="guide", name="perfectly calibrated")
    valid = ti >= 0
    for n, k in enumerate(_curve_classes(ti, names)[:8]):
        frac, mean, count = calibration_points(ti[valid] == k, np.clip(p[valid, k], 0.0, 1.0))
        prefix = "" if len(names) == 2 else f"{names[k]}"
        ax.line(mean, frac, s.color(n), name=prefix or "model")
        tips = [f"{prefix + ': ' if prefix else ''}predicted {m:.3f}, observed {f:.3f} ({c} rows)"
                for m, f, c in zip(mean.tolist(), frac.tolist(), count.tolist(), strict=True)]  # fmt: skip
        ax.dots(mean, frac, s.color(n), r=3.5, tips=tips)
    return ax.svg()


def confusion_matrix_svg(ti: np.ndarray, pi: np.ndarray, names: list[str]) -> str:
    """Counts per (actual, predicted) with cells shaded by the row-normalised share."""
    k = len(names)
    ok = (ti >= 0) & (pi >= 0)
    counts = np.bincount(ti[ok] * k + pi[ok], minlength=k * k).reshape(k, k)
    title = "Confusion matrix"
    shown = list(range(k))
    if k > MAX_MATRIX:  # keep the most frequent actual classes, in their original order
        shown = sorted(np.argsort(-counts.sum(axis=1), kind="stable")[:MAX_MATRIX].tolist())
        title += f" ({MAX_MATRIX} most frequent of {k} classes)"
    m = counts[np.ix_(shown, shown)]
    labels = [names[i] if len(names[i]) <= 18 else names[i][:17] + "…" for i in shown]
    n = len(shown)
    cell = min(64.0, max(14.0, 400.0 / n))
    lw = min(140.0, max(len(t) for t in labels) * 7.0 + 10)
    left, top = 40 + lw, 64.0
    width, height = left + n * cell + 24, top + n * cell + lw * 0.75 + 24
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape), where=rows > 0)
    font = min(13.0, cell / 3.2)
    body = [s.text(width / 2, 22, title, anchor="middle", size=14, font_weight="600")]
    body.append(s.text(left + n * cell / 2, top - 10, "Predicted", anchor="middle"))
    ay = top + n * cell / 2
    body.append(s.text(16, ay, "Actual", anchor="middle", transform=f"rotate(-90 16 {s.num(ay)})"))
    for i in range(n):
        y = top + i * cell
        body.append(s.text(left - 6, y + cell / 2 + 4, labels[i], anchor="end", size=11, class_="class-label"))
        for j in range(n):
            x = left + j * cell
            f = float(share[i, j])
            fill = _shade(f)
            tip = f"actual {names[shown[i]]}, predicted {names[shown[j]]}: {m[i, j]} ({f:.1%} of the row)"
            body.append(
                f'<g class="cell">{s.rect(x, y, cell, cell, fill, stroke="#fff")}<title>{s.esc(tip)}</title></g>'
            )
            if cell >= 24:
                ink = "#fff" if f > 0.5 else s.INK
                cy = y + cell / 2 + (font / 3 if cell < 44 else -1)
                body.append(s.text(x + cell / 2, cy, int(m[i, j]), anchor="middle", size=font, fill=ink))
                if cell >= 44:
                    body.append(s.text(x + cell / 2, cy + font, f"{f:.0%}", anchor="middle", size=font * 0.8, fill=ink))
    for j in range(n):  # predicted labels along the bottom, rotated so long names fit
        x, y = left + j * cell + cell / 2, top + n * cell + 8
        body.append(s.text(x, y, labels[j], anchor="end", size=11, class_="class-label",
                           transform=f"rotate(-45 {s.num(x)} {s.num(y)})"))  # fmt: skip
    return s.document(width, height, title, body)


def _shade(f: float) -> str:
    """White (0) to blue (1)."""
    lo, hi = (255, 255, 255), (8, 81, 156)
    r, g, b = (round(a + (c - a) * min(max(f, 0.0), 1.0)) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


# --- regression -------------------------------------------------------------------------------


def _regression(y_true: Any, y_pred: Any) -> dict[str, str]:
    yt = _column(y_true, "y_true").astype(np.float64)
    yp = _column(y_pred, "y_pred").astype(np.float64)
    if yt.size != yp.size:
        raise InvalidArgument(f"y_true has {yt.size} rows but y_pred has {yp.size}")
    ok = np.isfinite(yt) & np.isfinite(yp)
    yt, yp = yt[ok], yp[ok]
    n = yt.size
    if n > MAX_SCATTER:  # a fixed seed: the same rows every time for the same data
        pick = np.sort(np.random.default_rng(0).choice(n, MAX_SCATTER, replace=False))
        yt, yp = yt[pick], yp[pick]
    note = f" ({yt.size:,} of {n:,} points)" if yt.size < n else ""
    res = yt - yp
    lo, hi = (float(yp.min()), float(yp.max())) if n else (0.0, 1.0)
    rlo, rhi = (float(res.min()), float(res.max())) if n else (-1.0, 1.0)
    ax = s.Axes(title="Residuals" + note, x_label="Predicted", y_label="Residual (actual - predicted)",
                x_range=s.padded(lo, hi), y_range=s.padded(min(rlo, 0.0), max(rhi, 0.0)))  # fmt: skip
    ax.hline(0.0)
    ax.dots(yp, res, s.color(0), r=2.2, opacity=0.5)
    if not n:
        ax.note("no finite predictions")
    lo2, hi2 = s.padded(min(lo, float(yt.min())) if n else 0.0, max(hi, float(yt.max())) if n else 1.0)
    pa = s.Axes(title="Predicted vs actual" + note, x_label="Actual", y_label="Predicted",
                x_range=(lo2, hi2), y_range=(lo2, hi2), square=True)  # fmt: skip
    pa.line([lo2, hi2], [lo2, hi2], s.MUTED, width=1, dashed=True, cls="guide", name="predicted = actual")
    pa.dots(yt, yp, s.color(0), r=2.2, opacity=0.5)
    return {"residuals": ax.svg(), "predicted_vs_actual": pa.svg()}
