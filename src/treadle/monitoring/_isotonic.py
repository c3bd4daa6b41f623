"""Isotonic calibration (pool adjacent violators) and the expected calibration error, in numpy.

Same semantics as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``: tied scores are
pooled, the fitted step function is interpolated linearly between its knots and clipped outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from treadle.errors import InvalidArgument

__all__ = ["Isotonic", "calibration_p_value", "expected_calibration_error", "pav"]


def pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The non-decreasing least-squares fit of ``y`` with weights ``w`` (pool adjacent violators)."""
    try:  # scipy >= 1.12 has a compiled PAV
        from scipy.optimize import isotonic_regression
    except ImportError:  # pragma: no cover - older scipy
        return _pav_numpy(y, w)
    return np.asarray(isotonic_regression(y, weights=w, increasing=True).x, dtype=float)


def _pav_numpy(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """PAV over a stack of blocks (value, weight, size); O(n) amortised."""
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        v, ww, n = float(yi), float(wi), 1
        while values and values[-1] > v:  # a violation: merge with the previous block
            pv, pw, pn = values.pop(), weights.pop(), sizes.pop()
            v, ww, n = (pv * pw + v * ww) / (pw + ww), pw + ww, pn + n
        values.append(v)
        weights.append(ww)
        sizes.append(n)
    return np.repeat(np.asarray(values, dtype=float), sizes)


@dataclass(frozen=True)
class Isotonic:
    """A fitted monotone map from scores to probabilities: knots ``x`` (increasing) and ``y``."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, score: np.ndarray, target: np.ndarray) -> Isotonic:
        if len(score) == 0:
            raise InvalidArgument("cannot calibrate on an empty reference")
        ux, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=target, minlength=len(ux)) / counts  # pool tied scores
        fitted = pav(means, counts.astype(float))
        # keep only the knots where the step function bends: the ends of each constant run
        same_prev = np.r_[False, fitted[1:] == fitted[:-1]]
        same_next = np.r_[fitted[:-1] == fitted[1:], False]
        keep = ~(same_prev & same_next)
        return cls(x=ux[keep].astype(float), y=fitted[keep])

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; scores outside the reference's range get the end values."""
        return np.interp(np.asarray(score, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Isotonic:
        x, y = np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
            raise InvalidArgument("a calibration map needs equally long, non-empty x and y lists")
        return cls(x=x, y=y)


def expected_calibration_error(truth: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-count bins of the sorted scores (NannyML's definition).

    With at most ``2 * bins`` rows the bins are halved to ``n // 2`` (at least 2)."""
    n = len(score)
    if n <= 2 * bins:
        bins = n // 2
    if bins < 2:
        raise InvalidArgument(f"{n} rows are too few for a calibration error: need at least 4")
    order = np.argsort(score, kind="mergesort")
    s, t = np.asarray(score, dtype=float)[order], np.asarray(truth, dtype=float)[order]
    width = n // bins
    edges = np.arange(0, n + 1, width)
    edges[-1] = n  # the last bin takes the remainder
    # sum over bins of (size / n) * |mean score - mean truth| = sum |bin sum score - bin sum truth| / n
    gap = np.add.reduceat(s - t, edges[:-1])
    return float(np.sum(np.abs(gap)) / n)


def calibration_p_value(
    truth: np.ndarray, score: np.ndarray, *, bins: int = 10, sims: int = 200, max_rows: int = 20_000, seed: int = 0
) -> float:
    """How likely an ECE at least this large is if the scores *are* calibrated (a parametric bootstrap).

    Under calibration each label is Bernoulli(score); simulating labels that way gives the ECE's null
    distribution for this very set of scores, so "small ECE" is judged against sampling noise rather
    than a fixed cut-off. References above ``max_rows`` are subsampled."""
    rng = np.random.default_rng(seed)
    t, s = np.asarray(truth, dtype=float), np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    if len(s) > max_rows:
        pick = rng.choice(len(s), size=max_rows, replace=False)
        t, s = t[pick], s[pick]
    observed = expected_calibration_error(t, s, bins)
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    n = len(s)
    b = bins if n > 2 * bins else n // 2
    edges = np.arange(0, n + 1, n // b)
    edges[-1] = n
    simulated = (rng.uniform(size=(sims, n)) < s_sorted[None, :]).astype(float)
    gaps = np.add.reduceat(s_sorted[None, :] - simulated, edges[:-1], axis=1)
    null = np.sum(np.abs(gaps), axis=1) / n
    return float((1 + np.count_nonzero(null >= observed)) / (sims + 1))
