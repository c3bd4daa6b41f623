"""The drift-test family: one abstract :class:`DriftTest`, the prepared column it reads
(:class:`ColumnSample`), and the registry that maps names (``ks``, ``wasserstein``, ...) to tests.

Implementations live in ``_tests_stat.py`` (ks, chisquare, z), ``_tests_dist.py`` (wasserstein,
jensenshannon, psi, hellinger) and ``_tests_ml.py`` (mmd, text domain classifier).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from treadle.errors import InvalidArgument
from treadle.monitors import ColumnKind

LEVELS = np.linspace(0.0, 1.0, 1001)  # the quantile levels a profile keeps (0, 0.001, ..., 1)


@dataclass
class ColumnSample:
    """One side (reference or current) of one column, prepared once for every test.

    Numeric: ``sorted`` holds the finite values in order. When ``exact`` is False (a stored
    profile of a large reference) ``sorted`` is only a sample and ``quantiles`` (1001 levels)
    describe the distribution; ``counts`` then hold value counts when the column has few values.
    Categorical: ``counts`` maps each value (as str) to its count. Embedding: ``values`` is a 2-D
    float array (rows x dims). Text: ``values`` is a 1-D array of strings. NaN/None are
    ``missing``, +-inf are ``non_finite``; neither is in the statistics.
    """

    kind: ColumnKind
    n: int
    missing: int = 0
    non_finite: int = 0
    sorted: np.ndarray | None = None
    quantiles: np.ndarray | None = None
    counts: dict[str, int] | None = None
    values: np.ndarray | None = None
    n_unique: int = 0
    exact: bool = True
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None

    def value_counts(self) -> dict[str, int]:
        """Counts per distinct value (numeric values keyed by ``repr(float(v))``)."""
        if self.counts is None:
            if self.sorted is None or not self.exact:
                raise InvalidArgument(f"{self.kind} column has no value counts")
            uniq, cnt = np.unique(self.sorted, return_counts=True)
            self.counts = {repr(float(u)): int(c) for u, c in zip(uniq, cnt, strict=True)}
        return self.counts

    def cdf(self, x: np.ndarray, *, right: bool = False) -> np.ndarray:
        """Share of values ``< x`` (``<= x`` with ``right``); interpolated from quantiles if not exact."""
        if self.exact and self.sorted is not None:
            found = np.searchsorted(self.sorted, x, side="right" if right else "left")
            return np.asarray(found) / max(len(self.sorted), 1)
        assert self.quantiles is not None
        q = self.quantiles
        # q[k-1] < x <= q[k] (left) or q[k-1] <= x < q[k] (right): a value many rows share (a run of
        # equal quantiles, e.g. 30% zeros) counts below x only with ``right``
        k = np.searchsorted(q, x, side="right" if right else "left")
        out = np.where(k >= len(q), 1.0, 0.0)
        mid = (k > 0) & (k < len(q))
        km = k[mid]
        lo, hi = q[km - 1], q[km]
        out[mid] = LEVELS[km - 1] + (x[mid] - lo) / (hi - lo) * (LEVELS[1] - LEVELS[0])
        return out

    def shares(self, edges: np.ndarray) -> np.ndarray:
        """Share of values per bin ``[e_i, e_i+1)``, the last bin closed (``np.histogram``'s bins)."""
        c = self.cdf(edges)
        c[-1] = self.cdf(edges[-1:], right=True)[0]
        return np.diff(c)


@dataclass(frozen=True)
class DriftResult:
    statistic: float
    p_value: float | None = None
    detail: dict[str, object] | None = None


class DriftTest(ABC):
    """A two-sample drift test on one column.

    Contract: :meth:`compute` takes two prepared :class:`ColumnSample` of a kind in ``kinds``, each
    with ``n >= 1``, and returns the statistic (and the p-value when ``p_value_test``). It never
    mutates its inputs beyond filling caches (``ColumnSample.counts``), holds no state, and is safe to
    call from several threads at once. With ``exact`` samples the statistic equals scipy's reference
    implementation named in the test's docstring. A p-value test flags drift when ``p < threshold``;
    a distance flags drift when ``statistic >= threshold``. Bad input raises ``InvalidArgument``.
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    p_value_test: ClassVar[bool]
    default_threshold: ClassVar[float]

    @abstractmethod
    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        """The statistic (and p-value) of ``cur`` against ``ref``."""

    def drifted(self, result: DriftResult, threshold: float) -> bool:
        if self.p_value_test:
            return result.p_value is not None and result.p_value < threshold
        return not math.isnan(result.statistic) and result.statistic >= threshold


_REGISTRY: dict[str, DriftTest] = {}


def register_test(test: DriftTest) -> DriftTest:
    """Make ``test`` available by its name to ``drift(tests={column: name})``."""
    _REGISTRY[test.name] = test
    return test


def get_test(name: str, kind: str | None = None) -> DriftTest:
    """The registered test ``name``; InvalidArgument when unknown or not for columns of ``kind``."""
    from treadle.monitoring import _tests  # noqa: F401  (registers the built-in tests)

    test = _REGISTRY.get(name)
    if test is None:
        raise InvalidArgument(f"unknown drift test {name!r}; choose one of {sorted(_REGISTRY)}")
    if kind is not None and kind not in test.kinds:
        fits = sorted(n for n, t in _REGISTRY.items() if kind in t.kinds)
        raise InvalidArgument(f"drift test {name!r} does not apply to {kind} columns; use one of {fits}")
    return test


def drift_test_names() -> list[str]:
    """Every registered test's name."""
    from treadle.monitoring import _tests  # noqa: F401

    return sorted(_REGISTRY)


def sorted_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``np.quantile(values, levels)`` (method ``linear``) of already sorted ``values``, without the
    partition numpy would run again: the same arithmetic, so the same floats."""
    n = len(values)
    virtual = (n - 1) * levels
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = virtual - lo
    a, b = values[lo], values[hi]
    diff = b - a
    out = a + diff * gamma
    high = gamma >= 0.5
    out[high] = b[high] - diff[high] * (1 - gamma[high])
    return out
