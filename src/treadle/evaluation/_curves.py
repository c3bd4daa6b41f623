"""ROC, precision-recall and calibration curves in numpy (one sort per class), equal point for
point to ``sklearn.metrics.roc_curve`` / ``precision_recall_curve`` and
``sklearn.calibration.calibration_curve`` (scikit-learn stays optional), plus a shape-keeping
downsampler so a 100k-row curve draws as at most a few hundred points."""

from __future__ import annotations

import numpy as np


def counts_at_thresholds(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positives, true positives, threshold) at each distinct score, highest score first.

    The one sort per class that ROC and PR share. Any sort order works: tied scores collapse into
    one threshold, so the (SIMD) quicksort is used rather than a stable sort."""
    order = np.argsort(score)[::-1]
    s = score[order]
    y = positive[order].astype(np.float64)
    distinct = np.flatnonzero(np.diff(s))
    idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[idx]
    fps = 1 + idx - tps
    return fps, tps, s[idx]


Counts = tuple[np.ndarray, np.ndarray, np.ndarray]


def roc_points(positive: np.ndarray, score: np.ndarray, counts: Counts | None = None) -> Counts:
    """(fpr, tpr, thresholds) exactly as ``roc_curve(..., drop_intermediate=True)``."""
    fps, tps, thr = counts or counts_at_thresholds(positive, score)
    if fps.size > 2:  # drop points collinear with their neighbours: they never show on a plot
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thr = np.r_[np.inf, thr.astype(np.float64)]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thr


def pr_points(positive: np.ndarray, score: np.ndarray, counts: Counts | None = None) -> Counts:
    """(precision, recall, thresholds) exactly as ``precision_recall_curve`` (recall decreasing)."""
    fps, tps, thr = counts or counts_at_thresholds(positive, score)
    ps = tps + fps
    precision = np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thr[::-1]


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under a curve by the trapezoid rule (x monotone)."""
    return float(abs(np.trapezoid(y, x)))


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Step-wise AP, as ``average_precision_score``: sum of precision x recall increments."""
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def calibration_points(
    positive: np.ndarray, prob: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fraction positive, mean predicted, count) per non-empty uniform bin, as
    ``calibration_curve(strategy="uniform")``."""
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(bins[1:-1], prob)
    total = np.bincount(ids, minlength=n_bins)
    sums = np.bincount(ids, weights=prob, minlength=n_bins)
    true = np.bincount(ids, weights=positive.astype(np.float64), minlength=n_bins)
    nz = total != 0
    return true[nz] / total[nz], sums[nz] / total[nz], total[nz]


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = 500) -> np.ndarray:
    """Indices of at most ``max_points`` points spread evenly along the curve's length (in the
    unit square), always keeping both ends: the drawn shape stays within ~1/max_points."""
    n = x.size
    if n <= max_points:
        return np.arange(n)
    seg = np.hypot(np.diff(x), np.diff(y))
    seg[~np.isfinite(seg)] = 0.0
    cum = np.r_[0.0, np.cumsum(seg)]
    if cum[-1] <= 0:
        return np.array([0, n - 1])
    marks = np.linspace(0.0, cum[-1], max_points - 1)
    idx = np.searchsorted(cum, marks, side="left")
    return np.unique(np.clip(np.r_[0, idx, n - 1], 0, n - 1))
