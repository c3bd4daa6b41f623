"""Records the rollout service takes and returns (they cross the SDK, HTTP, CLI and UI).

Counters (:class:`VariantTraffic`) are *deltas*: each serving process sums its requests for about a
second and sends what it saw; the store adds them up atomically, so many processes can report at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from treadle.records import Record
from treadle.rollout._spec import DeploymentSpec

MAX_DELTA = 2**40  # per report and counter: 64-bit sums cannot overflow in practice
DeploymentStatus = Literal["active", "promoted", "rolled_back"]
Action = Literal["none", "rollback", "promote"]


class Deployment(Record):
    """One revision of a deployment. A new revision is written when the spec changes (``apply``),
    and by ``promote`` (all traffic to the alias) and ``rollback`` (non-control weights 0)."""

    name: str
    revision: int
    spec: DeploymentSpec
    status: DeploymentStatus = "active"
    reason: str | None = None
    created_by: str | None = None
    created_at: int  # epoch ms


class VariantTraffic(Record):
    """What one process served for one variant since its last report (deltas, never totals).

    ``latency_ms_buckets`` holds counts per upper bound of ``treadle.rollout.LATENCY_BUCKETS_MS``
    (the last bucket is +inf); it may be empty when no latency was measured. ``shadow_*`` count the
    requests of this variant that were mirrored to the shadow model and how many answers differed.
    """

    variant: str
    requests: int = Field(default=0, ge=0, le=MAX_DELTA)
    errors: int = Field(default=0, ge=0, le=MAX_DELTA)
    latency_ms_buckets: list[int] = Field(default_factory=list)
    shadow_requests: int = Field(default=0, ge=0, le=MAX_DELTA)
    shadow_disagreements: int = Field(default=0, ge=0, le=MAX_DELTA)


class Feedback(Record):
    """A reward for one decision; ``accepted`` is False when that decision already had one."""

    decision_id: str
    deployment: str
    revision: int
    variant: str
    reward: float
    accepted: bool


class VariantStats(Record):
    variant: str
    model: str
    weight: float
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None  # None until the variant served a request with a measured latency
    p99_ms: float | None
    rewards: int  # feedback received
    reward_mean: float | None
    ci_low: float | None  # 95%: Wilson for binary rewards, normal for continuous ones
    ci_high: float | None
    prob_best: float | None  # Bayesian probability to be the best variant (Monte Carlo, fixed seed)
    p_value: float | None  # always-valid (mixture SPRT) p-value of the difference to the control
    expected_share: float | None  # from the weights (None for bandits, which move traffic on purpose)
    observed_share: float | None
    shadow_requests: int = 0
    shadow_disagreements: int = 0


class DeploymentStats(Record):
    name: str
    revision: int
    mode: Literal["canary", "ab", "bandit"]
    variants: list[VariantStats]
    srm_p_value: float | None  # sample-ratio-mismatch chi-square p-value (None for bandits / too little data)
    srm: bool  # True when the split differs from the weights (p < 0.001)
    guardrail_breaches: list[str] = Field(default_factory=list)
    winner: str | None = None  # the variant with the highest probability to be best
    significant: bool = False  # the winner passes P(best) and the always-valid test with enough samples


class ArmState(Record):
    """A bandit arm's shared state: requests served (``pulls``) and rewards received."""

    variant: str
    pulls: int = 0
    rewards: int = 0
    reward_sum: float = 0.0
    reward_sq_sum: float = 0.0


class Evaluation(Record):
    """What ``evaluate`` did; ``deployment`` is the current revision afterwards."""

    action: Action
    reason: str | None = None
    deployment: Deployment


class LogPart(Record):
    """One Parquet part of an endpoint's request log, stored as a blob."""

    endpoint: str
    digest: str
    size: int
    rows: int
    first_ms: int
    last_ms: int
    created_at: int
