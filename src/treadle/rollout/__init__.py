"""Online experimentation: canary, shadow, sticky A/B tests and bandits over registry models, with
statistics, guardrails and automatic promotion or rollback by moving a registry alias.

A deployment is a named, versioned :class:`DeploymentSpec` kept by :class:`RolloutService`; each
serving process routes requests with a :class:`Router` and reports counters and rewards back.
"""

from treadle.rollout._automation import parse_model_uri, target_model
from treadle.rollout._records import (
    ArmState,
    Deployment,
    DeploymentStats,
    Evaluation,
    Feedback,
    LogPart,
    VariantStats,
    VariantTraffic,
)
from treadle.rollout._router import Decision, Router, unit_fraction
from treadle.rollout._service import RolloutService
from treadle.rollout._spec import (
    ABSpec,
    AutoPromoteSpec,
    BanditSpec,
    BatchingSpec,
    DeploymentSpec,
    GuardrailSpec,
    ModelSpec,
    ReplicaSpec,
    ShadowSpec,
    Variant,
)
from treadle.rollout._stats import LATENCY_BUCKETS_MS, N_BUCKETS, SRM_ALPHA, bucket_index, histogram

__all__ = [
    "LATENCY_BUCKETS_MS",
    "N_BUCKETS",
    "SRM_ALPHA",
    "ABSpec",
    "ArmState",
    "AutoPromoteSpec",
    "BanditSpec",
    "BatchingSpec",
    "Decision",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStats",
    "Evaluation",
    "Feedback",
    "GuardrailSpec",
    "LogPart",
    "ModelSpec",
    "ReplicaSpec",
    "RolloutService",
    "Router",
    "ShadowSpec",
    "Variant",
    "VariantStats",
    "VariantTraffic",
    "bucket_index",
    "histogram",
    "parse_model_uri",
    "target_model",
    "unit_fraction",
]
