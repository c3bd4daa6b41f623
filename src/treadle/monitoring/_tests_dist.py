"""Distances: normalised Wasserstein, Jensen-Shannon, PSI and Hellinger.

Binning follows Evidently: a numeric column with more than 20 distinct reference values is cut into
Sturges bins over the combined range of both samples; otherwise (and for categorical columns) every
distinct value is its own bin. PSI instead uses the reference's deciles (10 bins).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import distance

from treadle.monitoring._tests_stat import aligned_counts
from treadle.monitoring.base import LEVELS, ColumnSample, DriftResult, DriftTest, register_test, sorted_quantiles

FEW_VALUES = 20  # numeric columns with at most this many distinct values are binned by value
PSI_EPS = 1e-4  # share given to an empty bin so that the log stays finite


def w1_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """First Wasserstein distance of two sorted samples, in O(n + m) after sorting.

    W1 is the integral of |Qa(t) - Qb(t)| over t in [0, 1] (Q: the empirical quantile functions).
    Both are step functions with steps at i/n and j/m; in units of 1/(n m) the steps are the
    integers i*m and j*n, merged here by arithmetic instead of another sort."""
    n, m = len(a), len(b)
    if n == m:
        return float(np.mean(np.abs(a - b)))
    j = np.arange(1, m + 1, dtype=np.int64)
    v_at = (j - 1) + (j * n) // m  # v-step j goes after every u-step i with i*m <= j*n
    is_u = np.ones(n + m, dtype=bool)
    is_u[v_at] = False
    merged = np.empty(n + m, dtype=np.int64)
    merged[is_u] = np.arange(m, (n + 1) * m, m, dtype=np.int64)
    merged[v_at] = j * n
    lengths = np.diff(merged, prepend=0).astype(np.float64)
    iu = np.cumsum(is_u)  # the segment ending at step k uses quantile index = steps before k
    iu -= is_u
    iv = np.arange(n + m) - iu
    np.minimum(iu, n - 1, out=iu)
    np.minimum(iv, m - 1, out=iv)
    # (x * y).sum(), not np.dot: BLAS threads waking up cost ~10 ms a call on a busy machine
    return float((lengths * np.abs(a[iu] - b[iv])).sum() / (n * m))


def w1_quantiles(quantiles: np.ndarray, b: np.ndarray) -> float:
    """W1 between a distribution known by its 1001 quantiles and a sorted sample (approximate)."""
    t = (np.arange(len(b)) + 0.5) / len(b)
    return float(np.mean(np.abs(b - np.interp(t, LEVELS, quantiles))))


def _reference_std(ref: ColumnSample) -> float:
    if ref.std is None:
        assert ref.sorted is not None
        ref.std = float(np.std(ref.sorted))
    return ref.std


class Wasserstein(DriftTest):
    """``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)`` (Evidently's
    ``wasserstein``: the distance in reference standard deviations)."""

    name = "wasserstein"
    kinds = frozenset({"numeric"})
    p_value_test = False
    default_threshold = 0.1

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        assert cur.sorted is not None
        if ref.exact and ref.sorted is not None:
            w = w1_sorted(ref.sorted, cur.sorted)
        else:
            assert ref.quantiles is not None
            w = w1_quantiles(ref.quantiles, cur.sorted)
        return DriftResult(w / max(_reference_std(ref), 0.001))


def sturges_edges(ref: ColumnSample, cur: ColumnSample) -> np.ndarray:
    """``np.histogram_bin_edges(concat(ref, cur), bins="sturges")``, from the two samples' extremes."""
    assert ref.min is not None and cur.min is not None and ref.max is not None and cur.max is not None
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    if hi == lo:
        return np.array([lo - 0.5, hi + 0.5])
    width = (hi - lo) / (np.log2(ref.n + cur.n) + 1.0)
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / width)) + 1)


def binned(ref: ColumnSample, cur: ColumnSample) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares over Evidently's bins (see the module docstring)."""
    if ref.kind == "numeric" and ref.n_unique > FEW_VALUES:
        edges = sturges_edges(ref, cur)
        return ref.shares(edges), cur.shares(edges)
    _, r, c = aligned_counts(ref, cur)
    return r / r.sum(), c / c.sum()


class JensenShannon(DriftTest):
    """``scipy.spatial.distance.jensenshannon(p, q)`` (natural log, as Evidently 0.7) of the binned shares."""

    name = "jensenshannon"
    kinds = frozenset({"numeric", "categorical"})
    p_value_test = False
    default_threshold = 0.1

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        p, q = binned(ref, cur)
        return DriftResult(float(distance.jensenshannon(p, q)))


class Hellinger(DriftTest):
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))`` of the binned shares (0: equal, 1: disjoint)."""

    name = "hellinger"
    kinds = frozenset({"numeric", "categorical"})
    p_value_test = False
    default_threshold = 0.1

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        p, q = binned(ref, cur)
        return DriftResult(math.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def decile_edges(ref: ColumnSample) -> np.ndarray:
    """-inf, the reference's distinct inner deciles, +inf."""
    levels = np.linspace(0.0, 1.0, 11)
    if ref.exact and ref.sorted is not None:
        deciles = sorted_quantiles(ref.sorted, levels)
    else:
        assert ref.quantiles is not None
        deciles = ref.quantiles[::100]
    return np.concatenate([[-np.inf], np.unique(deciles[1:-1]), [np.inf]])


class PSI(DriftTest):
    """Population stability index ``sum((q - p) * ln(q / p))`` over the reference's deciles (numeric)
    or values (categorical, few-valued numeric); empty bins get a share of 1e-4."""

    name = "psi"
    kinds = frozenset({"numeric", "categorical"})
    p_value_test = False
    default_threshold = 0.1

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        if ref.kind == "numeric" and ref.n_unique > FEW_VALUES:
            edges = decile_edges(ref)
            p, q = ref.shares(edges), cur.shares(edges)
        else:
            _, r, c = aligned_counts(ref, cur)
            p, q = r / r.sum(), c / c.sum()
        p, q = np.where(p <= 0, PSI_EPS, p), np.where(q <= 0, PSI_EPS, q)
        return DriftResult(float(np.sum((q - p) * np.log(q / p))))


register_test(Wasserstein())
register_test(JensenShannon())
register_test(Hellinger())
register_test(PSI())
