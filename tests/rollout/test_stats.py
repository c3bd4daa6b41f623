"""Statistics against scipy and closed-form references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from treadle.rollout import LATENCY_BUCKETS_MS, DeploymentSpec, DeploymentStats, histogram
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


def test_msprt_does_not_call_a_handful_of_constant_rewards_certain() -> None:
    # Two conversions against two non-conversions: no spread inside either arm, but hardly evidence.
    assert st.msprt_p_value((2, 2.0, 2.0), (2, 0.0, 0.0), binary=True) > 0.5  # was 0.0 (zero variance)
    assert st.msprt_p_value((2, 2.0, 2.0), (2, 0.0, 0.0)) > 0.5  # continuous: judged on the spread of all
    assert st.msprt_p_value((50, 0.0, 0.0), (50, 0.0, 0.0), binary=True) == 1.0  # all-zero rewards
    assert st.msprt_p_value((50, 0.0, 0.0), (50, 0.0, 0.0)) == 1.0
    assert st.msprt_p_value((400, 400.0, 400.0), (400, 0.0, 0.0), binary=True) < 1e-6  # but a real gap is found


def test_binary_msprt_matches_the_pooled_closed_form_and_stays_valid_under_peeking() -> None:
    treat, ctrl = (500, 260.0, 260.0), (500, 200.0, 200.0)
    pooled = 460 / 1000
    var = pooled * (1 - pooled) * (1 / 500 + 1 / 500)
    tau2 = 0.09 * pooled * (1 - pooled)
    d = 260 / 500 - 200 / 500
    ratio = math.sqrt(var / (var + tau2)) * math.exp(tau2 * d * d / (2 * var * (var + tau2)))
    assert st.msprt_p_value(treat, ctrl, binary=True) == pytest.approx(1 / ratio)
    rng = np.random.default_rng(4)
    rejected = 0
    for _ in range(200):
        a, b = rng.random(2000) < 0.05, rng.random(2000) < 0.05  # a rare conversion: small counts early
        for n in range(20, 2001, 20):
            sa, sb = float(a[:n].sum()), float(b[:n].sum())
            p = st.msprt_p_value((n, sa, sa), (n, sb, sb), binary=True)
            if p is not None and p < 0.05:
                rejected += 1
                break
    assert rejected <= 10


def test_prob_best_does_not_trust_a_constant_arm() -> None:
    # Three equal ratings against fifty that average a bit lower: not certain either way.
    rng = np.random.default_rng(5)
    x = rng.normal(3.6, 1.0, 50)
    p = st.prob_best([(3, 12.0, 48.0), (50, float(x.sum()), float((x * x).sum()))], binary=False)
    assert 0.5 < p[0] < 0.95
    flat = st.prob_best([(10, 0.0, 0.0), (10, 0.0, 0.0), (10, 0.0, 0.0)], binary=False)  # all-zero rewards
    assert all(0.25 < q < 0.42 for q in flat)


def _summary(spec: dict[str, object], counters: Counters) -> DeploymentStats:
    return summarise(DeploymentSpec.model_validate(spec), 1, counters)


def _routes(name: str, weights: dict[str, float], **rest: object) -> dict[str, object]:
    """A canary spec: one route per ``weights`` entry, serving versions 1, 2, ... of ``m``."""
    routes = [{"name": v, "model": f"models:/m/{i + 1}", "weight": w} for i, (v, w) in enumerate(weights.items())]
    return {"name": name, "routes": routes, **rest}


def _rewarded(n: int, successes: float) -> dict[str, tuple[int, float]]:
    """Counters of ``n`` requests with ``n`` binary rewards, ``successes`` of them 1."""
    return {"requests": (n, 0.0), "reward": (n, successes), "reward_sq": (n, successes)}


def test_summary_edge_cases() -> None:
    one = {"name": "solo", "routes": [{"name": "a", "model": "models:/m/1"}], "auto_promote": {"min_samples": 5}}
    rewarded = {"requests": (100, 0.0), "reward": (100, 60.0), "reward_sq": (100, 60.0)}
    solo = _summary(one, {"a": rewarded})
    assert solo.winner == "a" and not solo.significant  # nothing to compare with: never "significant"
    assert solo.srm_p_value is None and solo.guardrail_breaches == []
    empty = _summary(one, {})  # zero traffic
    assert empty.variants[0].observed_share is None and empty.variants[0].p50_ms is None
    assert empty.winner is None and not empty.significant
    # A dark variant (weight 0) neither gets a P(best) nor keeps the live ones from being decided.
    dark = _routes("dark", {"a": 1, "b": 1, "c": 0}, auto_promote={"min_samples": 50})
    low, high = _rewarded(400, 40.0), _rewarded(400, 200.0)
    stats = _summary(dark, {"a": low, "b": high})
    assert [v.prob_best is None for v in stats.variants] == [False, False, True]
    assert stats.winner == "b" and stats.significant
    dark["auto_promote"] = {"min_samples": 401}  # one reward short on every variant: not yet
    assert not _summary(dark, {"a": low, "b": high}).significant
    # One continuous reward: no interval (not an infinite one, which JSON cannot carry).
    bandit = {
        "name": "cont",
        "bandit": {
            "reward": "continuous",
            "arms": [{"name": "a", "model": "models:/m/1"}, {"name": "b", "model": "models:/m/2"}],
        },
    }
    single = _summary(bandit, {"a": {"reward": (1, 3.5), "reward_sq": (1, 12.25)}})
    assert (single.variants[0].ci_low, single.variants[0].ci_high) == (None, None)
    assert single.variants[0].reward_mean == 3.5 and single.variants[1].p_value is None


def test_guardrails_watch_only_live_non_control_variants_with_enough_requests() -> None:
    spec = _routes(
        "guarded", {"control": 80, "canary": 20, "dark": 0}, guardrails={"max_error_rate": 0.1, "min_requests": 100}
    )
    broken = {"requests": (500, 0.0), "errors": (400, 0.0)}
    assert _summary(spec, {"control": broken, "dark": broken}).guardrail_breaches == []  # control, weight 0
    assert _summary(spec, {"canary": {"requests": (99, 0.0), "errors": (99, 0.0)}}).guardrail_breaches == []
    fired = _summary(spec, {"canary": {"requests": (100, 0.0), "errors": (11, 0.0)}}).guardrail_breaches
    assert len(fired) == 1 and "'canary'" in fired[0] and "over 100 requests" in fired[0]


def test_auto_promote_needs_the_always_valid_test_too() -> None:
    """P(best) >= 0.95 alone is not a decision when the controller looks every few seconds."""
    two = _routes("ab", {"a": 1, "b": 1}, auto_promote={"probability": 0.95, "min_samples": 100})
    close = _summary(two, {"a": _rewarded(1000, 300), "b": _rewarded(1000, 335)})
    assert close.winner == "b" and (close.variants[1].prob_best or 0) > 0.95 and not close.significant
    clear = _summary(two, {"a": _rewarded(1000, 300), "b": _rewarded(1000, 400)})
    assert clear.winner == "b" and clear.significant
    control_wins = _summary(two, {"a": _rewarded(1000, 400), "b": _rewarded(1000, 300)})
    assert control_wins.winner == "a" and control_wins.significant
    # Equal arms, looked at every 200 rewards: P(best) alone crosses 0.95 in a large share of runs.
    rng = np.random.default_rng(1)
    by_prob, by_rule = 0, 0
    for _ in range(60):
        a, b = np.cumsum(rng.random(3000) < 0.3), np.cumsum(rng.random(3000) < 0.3)
        looks = [
            _summary(two, {"a": _rewarded(n, a[n - 1]), "b": _rewarded(n, b[n - 1])}) for n in range(200, 3001, 200)
        ]
        by_prob += any(max(v.prob_best or 0 for v in s.variants) >= 0.95 for s in looks)
        by_rule += any(s.significant for s in looks)
    assert by_prob >= 10 and by_rule <= 3, (by_prob, by_rule)
