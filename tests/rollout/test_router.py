"""The router: canary weights within binomial tolerance, sticky A/B, shadow percent, decision ids."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from treadle.errors import InvalidArgument
from treadle.rollout import DeploymentSpec, Router, unit_fraction
from treadle.rollout._automation import rolled_back_spec


def _spec(**router: object) -> DeploymentSpec:
    return DeploymentSpec.model_validate({"name": "churn", **router})


def _within_binomial(count: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


CANARY = _spec(
    routes=[
        {"name": "champion", "model": "models:/churn@champion", "weight": 80},
        {"name": "canary", "model": "models:/churn/2", "weight": 15},
        {"name": "wild", "model": "models:/churn/3", "weight": 5},
    ],
    shadow={"model": "models:/churn/4", "percent": 12.5},
)


def test_canary_weights_within_binomial_tolerance() -> None:
    router = Router(CANARY, 3, rng=random.Random(7))
    n = 20_000
    counts = Counter(router.decide().variant.name for _ in range(n))
    assert set(counts) == {"champion", "canary", "wild"}
    for name, share in (("champion", 0.80), ("canary", 0.15), ("wild", 0.05)):
        assert _within_binomial(counts[name], n, share), (name, counts[name])
    mirrored = sum(router.mirror() for _ in range(n))
    assert _within_binomial(mirrored, n, 0.125)


def test_decision_ids_name_deployment_revision_and_variant() -> None:
    router = Router(CANARY, 3)
    ids = [router.decide() for _ in range(200)]
    for decision in ids:
        name, revision, variant, nonce = decision.decision_id.split("/")
        assert (name, revision, variant) == ("churn", "3", decision.variant.name)
        assert len(nonce) == 16 and int(nonce, 16) >= 0
    assert len({d.decision_id for d in ids}) == 200


def test_zero_weights_never_win_and_a_rollback_sends_all_to_the_control() -> None:
    rolled = rolled_back_spec(CANARY)
    assert [v.weight for v in rolled.variants] == [80, 0, 0]
    router = Router(rolled, 4, rng=random.Random(1))
    assert {router.decide().variant.name for _ in range(5000)} == {"champion"}
    assert Router(CANARY, 1).mirror() in (True, False) and not Router(_spec(routes=CANARY.routes), 1).mirror()


AB = _spec(
    ab={
        "unit_key": "user_id",
        "variants": [
            {"name": "control", "model": "models:/churn@champion", "weight": 70},
            {"name": "treatment", "model": "models:/churn/2", "weight": 30},
        ],
    }
)


def test_ab_is_sticky_and_splits_near_the_weights() -> None:
    first, second = Router(AB, 1, rng=random.Random(1)), Router(AB, 2, rng=random.Random(2))
    units = [f"user-{i}" for i in range(20_000)]
    picks = [first.decide(u).variant.name for u in units]
    # the same unit gets the same variant again, in another process and another revision
    assert [first.decide(u).variant.name for u in units[:2000]] == picks[:2000]
    assert [second.decide(u).variant.name for u in units[:2000]] == picks[:2000]
    assert _within_binomial(picks.count("treatment"), len(units), 0.30)
    # another experiment hashes the same units independently
    other = Router(AB.model_copy(update={"name": "upsell"}), 1)
    moved = sum(other.decide(u).variant.name != p for u, p in zip(units[:4000], picks[:4000], strict=True))
    assert _within_binomial(moved, 4000, 2 * 0.3 * 0.7)


def test_ab_needs_the_unit() -> None:
    router = Router(AB, 1)
    for missing in (None, ""):
        with pytest.raises(InvalidArgument, match="'user_id'"):
            router.decide(missing)


def test_unit_fraction_is_sha256_uniform() -> None:
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"churn:u1").digest()[:8], "big") / 2**64
    assert unit_fraction("churn", "u1") == expected
    values = [unit_fraction("exp", str(i)) for i in range(20_000)]
    assert all(0 <= v < 1 for v in values)
    deciles = Counter(int(v * 10) for v in values)
    assert all(_within_binomial(deciles[d], 20_000, 0.1) for d in range(10))
