"""Deployment specs: what to serve and how traffic is split. Stored, versioned, by the rollout service.

A deployment routes each request to one *variant* (a model URI) in exactly one of three ways:

- ``routes``: weighted random split (a canary: ``[{name: champion, model: models:/churn@champion,
  weight: 90}, {name: canary, model: models:/churn/3, weight: 10}]``);
- ``ab``: a sticky A/B test, the variant picked by hashing the experiment (deployment name) and the
  request's ``unit_key`` value, so the same unit always sees the same variant;
- ``bandit``: a multi-armed bandit whose arm statistics are shared through the store.

``shadow`` mirrors a fraction of requests to another model (its answers are logged and compared,
never returned). The first variant is the *control* (the champion). ``guardrails`` and
``auto_promote`` drive the automatic rollback and promotion, which move the registry alias
``alias`` of the registered model ``model``. ``batching`` and ``replicas`` are the serving knobs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from treadle.names import check_name
from treadle.records import Record


class BatchingSpec(Record):
    """Adaptive batching: up to ``max_batch_size`` rows, waiting at most ``max_latency_ms`` for more."""

    max_batch_size: int = Field(default=32, ge=1, le=65536)
    max_latency_ms: float = Field(default=5.0, ge=0, le=10_000)


class ReplicaSpec(Record):
    """Worker processes per model. ``min_replicas == 0`` runs the model inside the server process.

    The autoscaler keeps between ``min_replicas`` and ``max_replicas`` workers, adding one when the
    mean in-flight requests per worker exceed ``target_inflight`` and removing one after
    ``scale_down_delay_s`` below half of it.
    """

    min_replicas: int = Field(default=1, ge=0, le=256)
    max_replicas: int | None = Field(default=None, ge=1, le=256)
    target_inflight: float = Field(default=4.0, gt=0)
    scale_down_delay_s: float = Field(default=10.0, ge=0)

    @property
    def upper(self) -> int:
        return max(self.min_replicas, self.max_replicas or self.min_replicas)


class ModelSpec(Record):
    """One served model: the name it answers to, its URI (``models:/name@alias`` reloads when the
    alias moves), and how it runs."""

    name: str
    uri: str
    batching: BatchingSpec | None = None
    replicas: ReplicaSpec = Field(default_factory=ReplicaSpec)
    reload: bool = True


class Variant(Record):
    name: str
    model: str  # a model URI: models:/name/3, models:/name@alias, runs:/..., a path
    weight: float = Field(default=1.0, ge=0)


class ShadowSpec(Record):
    model: str
    percent: float = Field(default=100.0, ge=0, le=100)


class ABSpec(Record):
    unit_key: str
    variants: list[Variant] = Field(min_length=2)


class BanditSpec(Record):
    policy: Literal["thompson", "epsilon_greedy", "ucb"] = "thompson"
    arms: list[Variant] = Field(min_length=2)
    reward: Literal["binary", "continuous"] = "binary"
    epsilon: float = Field(default=0.1, ge=0, le=1)
    ucb_c: float = Field(default=2.0, gt=0)


class GuardrailSpec(Record):
    """Roll the non-control variants back to 0% when, over at least ``min_requests`` of theirs, the
    error rate or the p99 latency passes its limit."""

    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=100, ge=1)


class AutoPromoteSpec(Record):
    """Move the alias to the best variant once its probability to be best passes ``probability``
    with at least ``min_samples`` rewards per variant, and the always-valid (mSPRT) p-value of its
    difference to the control is below ``1 - probability`` (so that a controller checking every few
    seconds does not promote a variant that is no better)."""

    enabled: bool = True
    probability: float = Field(default=0.95, gt=0.5, lt=1)
    min_samples: int = Field(default=100, ge=1)


class DeploymentSpec(Record):
    name: str
    model: str | None = None  # the registered model whose alias promotion moves (default: from the URIs)
    alias: str = "champion"
    routes: list[Variant] | None = None
    ab: ABSpec | None = None
    bandit: BanditSpec | None = None
    shadow: ShadowSpec | None = None
    guardrails: GuardrailSpec | None = None
    auto_promote: AutoPromoteSpec | None = None
    batching: BatchingSpec | None = None
    replicas: ReplicaSpec = Field(default_factory=ReplicaSpec)
    request_log: bool = True

    @model_validator(mode="after")
    def _one_router(self) -> DeploymentSpec:
        check_name(self.name, "deployment")
        given = [k for k in ("routes", "ab", "bandit") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a deployment needs exactly one of routes, ab, bandit (got {given or 'none'})")
        variants = self.variants
        if not variants:
            raise ValueError("routes must name at least one variant")
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        for name in names:
            check_name(name, "variant")
        if self.bandit is None and sum(v.weight for v in variants) <= 0:  # bandits pick by reward, not weight
            what = "route" if self.routes is not None else "A/B variant"
            raise ValueError(f"{what} weights must add up to more than 0")
        return self

    @property
    def mode(self) -> Literal["canary", "ab", "bandit"]:
        return "canary" if self.routes is not None else ("ab" if self.ab is not None else "bandit")

    @property
    def variants(self) -> list[Variant]:
        if self.routes is not None:
            return list(self.routes)
        if self.ab is not None:
            return list(self.ab.variants)
        assert self.bandit is not None
        return list(self.bandit.arms)

    @property
    def control(self) -> Variant:
        return self.variants[0]
