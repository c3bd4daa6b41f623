"""Statistics of a running experiment, computed from counters (no per-request rows are kept).

- latency quantiles from fixed histogram buckets (:data:`LATENCY_BUCKETS_MS`), linear within a bucket;
- 95% intervals of the reward mean: Wilson for binary rewards (good at small n and near 0 or 1),
  normal (mean ± z·sd/√n) for continuous ones;
- the Bayesian probability that each variant is the best (Monte Carlo over the posteriors, with a
  fixed seed so the same counters always give the same answer in every process);
- an always-valid p-value of each variant against the control: the mixture sequential probability
  ratio test (mSPRT, Johari, Pekelis & Walsh 2017) with a normal mixing distribution over the
  difference of means, which stays valid however often it is looked at, unlike a fixed-horizon
  t-test peeked at every second (see :func:`msprt_p_value` for the formula and its assumptions);
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
    """Wilson score interval of a proportion ``successes / n`` (Wilson 1927); (0, 1) when n is 0."""
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
    """Normal-approximation interval of a mean: mean ± z·sd/√n with the sample sd (unbounded, as
    (-inf, inf), under two values; the statistics report no interval then)."""
    mean, var = mean_var(n, total, sq_total)
    if n < 2:
        return -math.inf, math.inf
    half = z * math.sqrt(var / n)
    return mean - half, mean + half


def fallback_variance(arms: Sequence[tuple[int, float, float]]) -> float:
    """The reward variance to assume for an arm whose own sample variance says nothing (fewer than
    two rewards, or all its rewards equal): the pooled variance of the arms that have a spread, else
    the variance of all rewards together, else 1. A zero spread from a handful of equal rewards
    (ratings of 4 and 4) would otherwise make that arm's mean look certain, and a bandit would then
    always or never pull it."""
    known = [var for n, s, sq in arms if n >= 2 and (var := mean_var(n, s, sq)[1]) > 0]
    if known:
        return float(np.mean(known))
    n = sum(a[0] for a in arms)
    _, combined = mean_var(n, sum(a[1] for a in arms), sum(a[2] for a in arms))
    return combined if combined > 0 else 1.0


def arm_variance(arm: tuple[int, float, float], fallback: float) -> float:
    """An arm's reward variance for its posterior: its sample variance when it has one, else ``fallback``."""
    n, s, sq = arm
    var = mean_var(n, s, sq)[1] if n >= 2 else 0.0
    return var if var > 0 else fallback


def prob_best(
    arms: Sequence[tuple[int, float, float]], binary: bool, draws: int = PROB_BEST_DRAWS, seed: int = PROB_BEST_SEED
) -> list[float]:
    """P(each arm has the highest mean) from (n, sum, sum of squares) per arm.

    Binary: Beta(1 + successes, 1 + failures) posteriors (uniform priors). Continuous:
    Normal(mean, sd/√n) (the large-sample posterior under a flat prior); an arm with fewer than two
    rewards, or no spread among them, gets :func:`fallback_variance` instead of its own.
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
        fallback = fallback_variance(arms)
        for j, arm in enumerate(arms):
            n, s, _ = arm
            mean = s / n if n > 0 else 0.0
            samples[:, j] = rng.normal(mean, math.sqrt(arm_variance(arm, fallback) / max(n, 1)), size=draws)
    best = np.argmax(samples, axis=1)
    return [float(np.mean(best == j)) for j in range(len(arms))]


def msprt_p_value(
    treatment: tuple[int, float, float],
    control: tuple[int, float, float],
    tau2: float | None = None,
    *,
    binary: bool = False,
) -> float | None:
    """Always-valid p-value of H0 "equal means" from (n, sum, sum of squares) of each arm.

    Computed: the two-sample mixture SPRT of Johari, Pekelis & Walsh (2017, "Always valid inference:
    bringing sequential analysis to A/B testing", section 4) with the mixing distribution
    N(0, tau²) over the difference of means. With ``d = m1 - m0`` and ``V`` the variance of ``d``,
    the mixture likelihood ratio is ``Λ = sqrt(V / (V + tau²)) * exp(tau² d² / (2 V (V + tau²)))``
    (their ``sqrt(2s²/(2s² + n tau²)) exp(n² tau² d²/(4s²(2s² + n tau²)))`` for n observations per
    arm with variance s², where ``V = 2s²/n``), and the value returned is ``min(1, 1/Λ)``.

    ``V``: binary rewards use the pooled proportion under H0, ``p̄(1 - p̄)(1/n1 + 1/n0)``;
    continuous ones the Welch form ``s1²/n1 + s0²/n0``, or, when both arms are constant, the
    variance of all rewards together times ``(1/n1 + 1/n0)``. ``tau²`` defaults to 0.09 times the
    per-observation variance (pooled within the arms; for binary ``p̄(1 - p̄)``): tuned to effects of
    about 0.3 standard deviations (Cohen's "small to medium").

    Assumptions: independent observations; ``d`` close to normal (a few dozen rewards per arm); the
    variance estimated well enough to be plugged in as known (as Johari et al. do for Bernoulli
    data), and ``tau²`` scaled by it, so validity is asymptotic rather than exact. The always-valid
    p-value proper is the running minimum of this value over looks; this function sees only the
    current counters, so it returns a value >= that minimum. By Ville's inequality, rejecting the
    first time it falls below alpha still keeps the false-positive rate <= alpha however often one
    looks. None with fewer than two rewards in either arm; 1.0 when all rewards are equal.
    """
    (n1, s1, q1), (n0, s0, q0) = treatment, control
    if n1 < 2 or n0 < 2:
        return None
    m1, v1 = mean_var(n1, s1, q1)
    m0, v0 = mean_var(n0, s0, q0)
    inverse_n = 1 / n1 + 1 / n0
    if binary:
        pooled = min(max((s1 + s0) / (n1 + n0), 0.0), 1.0)
        sigma2 = pooled * (1 - pooled)
        var = sigma2 * inverse_n
    else:
        sigma2 = ((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2)
        var = v1 / n1 + v0 / n0
        if var <= 0:  # both arms constant: judge the gap against the spread of all rewards
            sigma2 = mean_var(n1 + n0, s1 + s0, q1 + q0)[1]
            var = sigma2 * inverse_n
    if var <= 0 or sigma2 <= 0:
        return 1.0  # every reward the same: no evidence of any difference
    if tau2 is None:
        tau2 = 0.09 * sigma2
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
