"""Hypothesis tests with a p-value: Kolmogorov-Smirnov, chi-square, two-proportion Z."""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from treadle.monitoring.base import ColumnSample, DriftResult, DriftTest, register_test


def aligned_counts(ref: ColumnSample, cur: ColumnSample) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts of ``ref`` and ``cur`` over the union of their values (reference order first)."""
    rc, cc = ref.value_counts(), cur.value_counts()
    keys = list(rc) + [k for k in cc if k not in rc]
    r = np.array([rc.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cc.get(k, 0) for k in keys], dtype=np.float64)
    return keys, r, c


class KS(DriftTest):
    """Two-sample Kolmogorov-Smirnov (``scipy.stats.ks_2samp``, two-sided, method ``auto``)."""

    name = "ks"
    kinds = frozenset({"numeric"})
    p_value_test = True
    default_threshold = 0.05

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        assert ref.sorted is not None and cur.sorted is not None
        res = stats.ks_2samp(ref.sorted, cur.sorted)
        return DriftResult(float(res.statistic), float(res.pvalue))


class ChiSquare(DriftTest):
    """Pearson chi-square of the current counts against the reference frequencies
    (``scipy.stats.chisquare(f_obs, f_exp)`` over the union of values, ``f_exp`` = reference counts
    scaled to the current size). A value the reference never had gives p = 0.

    Like Evidently's, it is a goodness-of-fit test that takes the reference frequencies as exact:
    it keeps its false-positive rate when the reference is much larger than the current window
    (the monitoring case); with samples of equal size it rejects more often than ``alpha``."""

    name = "chisquare"
    kinds = frozenset({"categorical", "numeric"})
    p_value_test = True
    default_threshold = 0.05

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        _, r, c = aligned_counts(ref, cur)
        if len(r) < 2:
            return DriftResult(0.0, 1.0)
        f_exp = r * (c.sum() / r.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            res = stats.chisquare(c, f_exp)
        stat, p = float(res.statistic), float(res.pvalue)
        if math.isnan(p):  # 0/0 terms: a value absent from the reference appeared
            stat, p = math.inf, 0.0
        return DriftResult(stat, p)


class Z(DriftTest):
    """Two-proportion Z-test of the share of the first (sorted) value, pooled variance, two-sided
    (equal to ``scipy.stats.chi2_contingency(table, correction=False)``'s p-value)."""

    name = "z"
    kinds = frozenset({"categorical", "numeric"})
    p_value_test = True
    default_threshold = 0.05

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        rc, cc = ref.value_counts(), cur.value_counts()
        keys = sorted(set(rc) | set(cc))
        n1, n2 = sum(rc.values()), sum(cc.values())
        if len(keys) < 2 or n1 == 0 or n2 == 0:
            return DriftResult(0.0, 1.0)
        first = keys[0]
        p1, p2 = 1 - rc.get(first, 0) / n1, 1 - cc.get(first, 0) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se == 0:
            return DriftResult(0.0, 1.0)
        z = (p1 - p2) / se
        return DriftResult(z, float(2 * special.ndtr(-abs(z))))  # = 2 * norm.sf(|z|), minus its overhead


register_test(KS())
register_test(ChiSquare())
register_test(Z())
