"""Statistics against scipy and closed-form references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from treadle.rollout import LATENCY_BUCKETS_MS, DeploymentSpec, histogram
from treadle.rollout import _stats as st
from treadle.rollout._store import Counters
from treadle.rollout._summary import summarise


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (50, 100), (999, 1000), (7, 7)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert st.wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_normal_ci_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=400)
    low, high = st.normal_ci(len(x), float(x.sum()), float((x * x).sum()))
    half = stats.norm.ppf(0.975) * x.std(ddof=1) / math.sqrt(len(x))
    assert (low, high) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-9)


def test_quantiles_from_the_histogram() -> None:
    rng = np.random.default_rng(1)
    latencies = rng.uniform(10.0, 15.0, size=10_000)  # all in the (10, 15] bucket
    buckets = histogram(latencies.tolist())
    assert len(buckets) == len(LATENCY_BUCKETS_MS) + 1 and sum(buckets) == 10_000
    assert st.quantile(buckets, 0.5) == pytest.approx(12.5, abs=0.2)
    assert st.quantile(buckets, 0.99) == pytest.approx(14.95, abs=0.2)
    spread = rng.lognormal(3.0, 0.8, size=50_000)
    for q in (0.5, 0.99):
        true = float(np.quantile(spread, q))
        assert st.quantile(histogram(spread.tolist()), q) == pytest.approx(true, rel=0.15)
    assert st.quantile([0] * len(buckets), 0.5) is None
    assert st.quantile(histogram([50_000.0]), 0.99) == LATENCY_BUCKETS_MS[-1]  # the open bucket


def test_prob_best_of_two_betas_matches_numerical_integration() -> None:
    a, b = (40, 12.0), (40, 18.0)  # (n, successes)
    mc = st.prob_best([(a[0], a[1], a[1]), (b[0], b[1], b[1])], binary=True)
    pa = stats.beta(1 + a[1], 1 + a[0] - a[1])
    pb = stats.beta(1 + b[1], 1 + b[0] - b[1])
    exact_b, _ = integrate.quad(lambda x: pb.pdf(x) * pa.cdf(x), 0, 1)  # P(B > A)
    assert mc[1] == pytest.approx(exact_b, abs=0.01) and sum(mc) == pytest.approx(1.0)
    assert st.prob_best([(10, 5.0, 5.0), (10, 5.0, 5.0)], binary=True) == st.prob_best(
        [(10, 5.0, 5.0), (10, 5.0, 5.0)], binary=True
    )  # fixed seed: every process agrees


def test_prob_best_continuous_matches_the_normal_difference() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(1.0, 1.0, 200), rng.normal(1.2, 1.0, 200)
    arms = [(len(v), float(v.sum()), float((v * v).sum())) for v in (x, y)]
    se = math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    exact = stats.norm.cdf((y.mean() - x.mean()) / se)
    assert st.prob_best(arms, binary=False)[1] == pytest.approx(exact, abs=0.01)


def test_msprt_p_value_closed_form_and_validity() -> None:
    treat, ctrl = (500, 260.0, 260.0), (500, 200.0, 200.0)
    m1, v1 = st.mean_var(*treat)
    m0, v0 = st.mean_var(*ctrl)
    var = v1 / 500 + v0 / 500
    tau2 = 0.04
    ratio = math.sqrt(var / (var + tau2)) * math.exp(tau2 * (m1 - m0) ** 2 / (2 * var * (var + tau2)))
    assert st.msprt_p_value(treat, ctrl, tau2=tau2) == pytest.approx(min(1.0, 1 / ratio))
    assert st.msprt_p_value(treat, ctrl) < 0.05  # a 12-point lift on 500 each is clear
    assert st.msprt_p_value((1, 1.0, 1.0), ctrl) is None
    # Under H0, peeking after every 50 observations rejects at 5% in (far) fewer than 5% of runs.
    rng = np.random.default_rng(3)
    rejected = 0
    for _ in range(200):
        a, b = rng.random(2000) < 0.3, rng.random(2000) < 0.3
        for n in range(50, 2001, 50):
            sa, sb = float(a[:n].sum()), float(b[:n].sum())
            p = st.msprt_p_value((n, sa, sa), (n, sb, sb))
            if p is not None and p < 0.05:
                rejected += 1
                break
    assert rejected <= 10


def test_srm_matches_scipy_chisquare() -> None:
    observed, weights = [9_100, 950], [90.0, 10.0]
    total = sum(observed)
    ref = stats.chisquare(observed, [total * 0.9, total * 0.1]).pvalue
    assert st.srm_p_value(observed, weights) == pytest.approx(ref)
    assert st.srm_p_value([9_000, 1_000, 5], [90.0, 10.0, 0.0]) == pytest.approx(1.0)  # weight 0 left out
    assert st.srm_p_value([5, 5], [1.0, 1.0]) is None  # too few requests


def test_summary_flags_srm_and_guardrails() -> None:
    spec = DeploymentSpec.model_validate(
        {
            "name": "churn",
            "routes": [
                {"name": "a", "model": "models:/m/1", "weight": 50},
                {"name": "b", "model": "models:/m/2", "weight": 50},
            ],
            "guardrails": {"max_error_rate": 0.1, "max_p99_latency_ms": 100, "min_requests": 50},
        }
    )
    lat = histogram([300.0] * 60)
    counters: Counters = {
        "a": {"requests": (1000, 0.0)},
        "b": {"requests": (60, 0.0), "errors": (12, 0.0), **{f"lat_{i}": (c, 0.0) for i, c in enumerate(lat) if c}},
    }
    summary = summarise(spec, 1, counters)
    assert summary.srm and summary.srm_p_value is not None and summary.srm_p_value < 1e-6
    assert len(summary.guardrail_breaches) == 2
    assert "error rate 20.00%" in summary.guardrail_breaches[0] and "p99 latency" in summary.guardrail_breaches[1]
    assert summary.winner is None and not summary.significant
