"""Statistics of a running experiment, computed from counters (no per-request rows are kept).

- latency quantiles from fixed histogram buckets (:data:`LATENCY_BUCKETS_MS`), linear within a bucket;
- 95% intervals of the reward mean: Wilson for binary rewards (good at small n and near 0 or 1),
  normal (mean ± z·sd/√n) for continuous ones;
- the Bayesian probability that each variant is the best (Monte Carlo over the posteriors, with a
  fixed seed so the same counters always give the same answer in every process);
- an always-valid p-value of each variant against the control: the mixture sequential probability
  ratio test (mSPRT, Johari et al. 2017) with a normal mixing distribution, which stays valid however
  often it is looked at, unlike a fixed-horizon t-test peeked at every second;
- the sample-ratio-mismatch check: a chi-square test of the observed split against the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Upper bounds (ms) of the latency histogram; a last, implicit bucket holds everything above.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
)  # fmt: skip
N_BUCKETS = len(LATENCY_BUCKETS_MS) + 1
Z95 = 1.959963984540054
SRM_ALPHA = 0.001
PROB_BEST_DRAWS = 20_000
PROB_BEST_SEED = 20261127


def bucket_index(latency_ms: float) -> int:
    """The histogram bucket a latency falls into (``bisect`` over the upper bounds)."""
    import bisect

    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def histogram(latencies_ms: Sequence[float]) -> list[int]:
    """Counts per bucket of :data:`LATENCY_BUCKETS_MS` (what a serving process reports)."""
    counts = [0] * N_BUCKETS
    for value in latencies_ms:
        counts[bucket_index(value)] += 1
    return counts


def quantile(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile of a bucketed latency histogram, interpolated linearly inside its bucket
    (the open last bucket reports its lower bound)."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = LATENCY_BUCKETS_MS[i - 1] if i > 0 else 0.0
            if i >= len(LATENCY_BUCKETS_MS):
                return float(low)
            high = LATENCY_BUCKETS_MS[i]
            return float(low + (high - low) * max(rank - seen, 0.0) / count)
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_var(n: int, total: float, sq_total: float) -> tuple[float, float]:
    """Mean and unbiased sample variance from count, sum and sum of squares."""
    if n <= 0:
        return 0.0, 0.0
    mean = total / n
    if n < 2:
        return mean, 0.0
    return mean, max(sq_total - n * mean * mean, 0.0) / (n - 1)


def normal_ci(n: int, total: float, sq_total: float, z: float = Z95) -> tuple[float, float]:
    """Normal-approximation interval of a mean: mean ± z·sd/√n."""
    mean, var = mean_var(n, total, sq_total)
    if n < 2:
        return -math.inf, math.inf
    half = z * math.sqrt(var / n)
    return mean - half, mean + half


def prob_best(
    arms: Sequence[tuple[int, float, float]], binary: bool, draws: int = PROB_BEST_DRAWS, seed: int = PROB_BEST_SEED
) -> list[float]:
    """P(each arm has the highest mean) from (n, sum, sum of squares) per arm.

    Binary: Beta(1 + successes, 1 + failures) posteriors. Continuous: Normal(mean, sd/√n) (the
    large-sample posterior under a flat prior); an arm with fewer than two rewards gets the pooled
    spread of the others, so it neither wins nor loses by default.
    """
    if not arms:
        return []
    rng = np.random.default_rng(seed)
    samples = np.empty((draws, len(arms)))
    if binary:
        for j, (n, s, _) in enumerate(arms):
            s = min(max(s, 0.0), float(n))
            samples[:, j] = rng.beta(1.0 + s, 1.0 + n - s, size=draws)
    else:
        stats = [mean_var(n, s, sq) for n, s, sq in arms]
        known = [var for (n, _, _), (_, var) in zip(arms, stats, strict=True) if n >= 2]
        pooled = float(np.mean(known)) if known else 1.0
        for j, ((n, _, _), (mean, var)) in enumerate(zip(arms, stats, strict=True)):
            sd = math.sqrt((var if n >= 2 else pooled) / max(n, 1)) or 1e-12
            samples[:, j] = rng.normal(mean, sd, size=draws)
    best = np.argmax(samples, axis=1)
    return [float(np.mean(best == j)) for j in range(len(arms))]


def msprt_p_value(
    treatment: tuple[int, float, float], control: tuple[int, float, float], tau2: float | None = None
) -> float | None:
    """Always-valid p-value of H0: equal means, by the mixture SPRT with a N(0, tau²) mixture.

    With the difference of means ``d`` and its variance ``V = s1²/n1 + s0²/n0`` the mixture
    likelihood ratio is ``sqrt(V / (V + tau²)) * exp(tau² d² / (2 V (V + tau²)))`` and the p-value
    ``min(1, 1 / ratio)``. ``tau²`` defaults to (0.3 * pooled sd)²: the test is tuned to effects of
    about a third of a standard deviation (Cohen's "small to medium"); it stays valid for any tau.
    """
    (n1, s1, q1), (n0, s0, q0) = treatment, control
    if n1 < 2 or n0 < 2:
        return None
    m1, v1 = mean_var(n1, s1, q1)
    m0, v0 = mean_var(n0, s0, q0)
    var = v1 / n1 + v0 / n0
    if var <= 0:
        return 1.0 if m1 == m0 else 0.0
    if tau2 is None:
        tau2 = 0.09 * ((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2)
    d = m1 - m0
    log_ratio = 0.5 * math.log(var / (var + tau2)) + tau2 * d * d / (2 * var * (var + tau2))
    return float(min(1.0, math.exp(-log_ratio)))


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """Chi-square goodness-of-fit p-value of ``observed`` counts against shares ∝ ``weights``
    (variants with weight 0 left out); None with fewer than two variants or under 20 requests."""
    from scipy.stats import chisquare

    pairs = [(o, w) for o, w in zip(observed, weights, strict=True) if w > 0]
    total = sum(o for o, _ in pairs)
    if len(pairs) < 2 or total < 20:
        return None
    weight_sum = sum(w for _, w in pairs)
    expected = [total * w / weight_sum for _, w in pairs]
    return float(chisquare([o for o, _ in pairs], expected).pvalue)
