"""From counters to :class:`DeploymentStats`: per-variant rates, intervals, P(best), p-values, SRM,
guardrail breaches and the winner. Pure functions of (spec, revision, counters)."""

from __future__ import annotations

from treadle.rollout import _stats as st
from treadle.rollout._records import ArmState, DeploymentStats, VariantStats
from treadle.rollout._spec import DeploymentSpec, Variant
from treadle.rollout._store import Counters

DEFAULT_PROBABILITY = 0.95
DEFAULT_MIN_SAMPLES = 100


def buckets(metrics: dict[str, tuple[int, float]]) -> list[int]:
    return [metrics.get(f"lat_{i}", (0, 0.0))[0] for i in range(st.N_BUCKETS)]


def reward_triple(metrics: dict[str, tuple[int, float]]) -> tuple[int, float, float]:
    n, total = metrics.get("reward", (0, 0.0))
    return n, total, metrics.get("reward_sq", (0, 0.0))[1]


def arm_states(spec: DeploymentSpec, counters: Counters) -> list[ArmState]:
    out = []
    for v in spec.variants:
        m = counters.get(v.name, {})
        n, total, sq = reward_triple(m)
        out.append(
            ArmState(
                variant=v.name, pulls=m.get("requests", (0, 0.0))[0], rewards=n, reward_sum=total, reward_sq_sum=sq
            )
        )
    return out


def _binary(spec: DeploymentSpec) -> bool:
    """Rewards are binary for bandits that say so; for canary/A-B when every reward seen is 0 or 1."""
    return spec.bandit.reward == "binary" if spec.bandit is not None else True


def summarise(spec: DeploymentSpec, revision: int, counters: Counters) -> DeploymentStats:
    variants = spec.variants
    metrics = [counters.get(v.name, {}) for v in variants]
    requests = [m.get("requests", (0, 0.0))[0] for m in metrics]
    rewards = [reward_triple(m) for m in metrics]
    binary = _binary(spec) and all(
        n == 0 or (0 <= total <= n and abs(sq - total) < 1e-9) for n, total, sq in rewards
    )  # 0/1 rewards: the sum of squares equals the sum
    probs = _prob_best(variants, rewards, binary)
    total_requests = sum(requests)
    weighted = spec.bandit is None
    weight_sum = sum(v.weight for v in variants)
    srm_p = st.srm_p_value(requests, [v.weight for v in variants]) if weighted else None
    out: list[VariantStats] = []
    for i, (v, m) in enumerate(zip(variants, metrics, strict=True)):
        n, total, sq = rewards[i]
        errors = m.get("errors", (0, 0.0))[0]
        hist = buckets(m)
        if n == 0 or (not binary and n < 2):  # no interval yet (not an infinite one: JSON has no inf)
            ci: tuple[float | None, float | None] = (None, None)
        elif binary:
            ci = st.wilson(total, n)
        else:
            ci = st.normal_ci(n, total, sq)
        out.append(
            VariantStats(
                variant=v.name,
                model=v.model,
                weight=v.weight,
                requests=requests[i],
                errors=errors,
                error_rate=errors / requests[i] if requests[i] else 0.0,
                p50_ms=st.quantile(hist, 0.5),
                p99_ms=st.quantile(hist, 0.99),
                rewards=n,
                reward_mean=total / n if n else None,
                ci_low=ci[0],
                ci_high=ci[1],
                prob_best=probs[i],
                p_value=None if i == 0 else st.msprt_p_value(rewards[i], rewards[0], binary=binary),
                expected_share=(v.weight / weight_sum if weight_sum > 0 else 0.0) if weighted else None,
                observed_share=requests[i] / total_requests if total_requests else None,
                shadow_requests=m.get("shadow_requests", (0, 0.0))[0],
                shadow_disagreements=m.get("shadow_disagreements", (0, 0.0))[0],
            )
        )
    winner, significant = _winner(spec, out)
    return DeploymentStats(
        name=spec.name,
        revision=revision,
        mode=spec.mode,
        variants=out,
        srm_p_value=srm_p,
        srm=srm_p is not None and srm_p < st.SRM_ALPHA,
        guardrail_breaches=breaches(spec, out),
        winner=winner,
        significant=significant,
    )


def _takes_traffic(index: int, variant: Variant) -> bool:
    """The control always competes; another variant only while its weight is above 0."""
    return index == 0 or variant.weight > 0


def _prob_best(variants: list[Variant], rewards: list[tuple[int, float, float]], binary: bool) -> list[float | None]:
    """P(best) among the variants that take traffic (None for the others, and for all before any reward)."""
    live = [i for i, v in enumerate(variants) if _takes_traffic(i, v)]
    out: list[float | None] = [None] * len(variants)
    if any(rewards[i][0] for i in live):
        for i, p in zip(live, st.prob_best([rewards[i] for i in live], binary), strict=True):
            out[i] = p
    return out


def _winner(spec: DeploymentSpec, stats: list[VariantStats]) -> tuple[str | None, bool]:
    """The variant most likely to be best, and whether that is decided.

    Decided means: at least two variants compete, each with ``min_samples`` rewards; the best one's
    P(best) reaches ``probability``; and the always-valid p-values agree at ``alpha = 1 -
    probability`` (Bonferroni-split over the comparisons with the control): a challenger that leads
    must differ from the control, a control that leads must differ from every challenger. P(best)
    alone is not enough, because the controller looks every few seconds: two equal arms' P(best)
    wanders past 0.95 at some look in about half of all experiments of a few thousand rewards,
    while the mixture SPRT's p-value stays valid under continuous monitoring.
    """
    live = [s for s in stats if s.prob_best is not None]
    if not live:
        return None, False
    best = max(live, key=lambda s: s.prob_best or 0.0)
    rule = spec.auto_promote
    probability = rule.probability if rule is not None else DEFAULT_PROBABILITY
    min_samples = rule.min_samples if rule is not None else DEFAULT_MIN_SAMPLES
    enough = len(live) >= 2 and all(s.rewards >= min_samples for s in live)
    if not enough or (best.prob_best or 0.0) < probability:
        return best.variant, False
    challengers = [s for s in live if s is not stats[0]]
    alpha = (1 - probability) / max(len(challengers), 1)
    tested = challengers if best is stats[0] else [best]
    return best.variant, all(s.p_value is not None and s.p_value < alpha for s in tested)


def breaches(spec: DeploymentSpec, stats: list[VariantStats]) -> list[str]:
    """Guardrail breaches of the non-control variants that still take traffic, each as a sentence."""
    rule = spec.guardrails
    if rule is None:
        return []
    out = []
    for s in stats[1:]:
        if s.weight <= 0 or s.requests < rule.min_requests:
            continue
        if rule.max_error_rate is not None and s.error_rate > rule.max_error_rate:
            out.append(
                f"variant {s.variant!r}: error rate {s.error_rate:.2%} > {rule.max_error_rate:.2%} "
                f"over {s.requests} requests"
            )
        if rule.max_p99_latency_ms is not None and s.p99_ms is not None and s.p99_ms > rule.max_p99_latency_ms:
            out.append(
                f"variant {s.variant!r}: p99 latency {s.p99_ms:.1f} ms > {rule.max_p99_latency_ms:g} ms "
                f"over {s.requests} requests"
            )
    return out
