"""Rollout conformance: deployments and revisions, atomic traffic counters, deduplicated feedback,
statistics, guardrail rollback and auto-promotion through registry aliases (compare-and-set on the
revision). Every backend (SQLite, PostgreSQL, HTTP) runs it with a ``client`` fixture."""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

import pytest

from treadle import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.rollout import N_BUCKETS, DeploymentSpec, VariantTraffic, histogram


def _name(prefix: str = "dep") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _model(client: Client, versions: int = 2) -> str:
    """A registered model with ``versions`` versions and alias ``champion`` on v1."""
    name = _name("model")
    exp = client.tracking.create_experiment(_name("exp"))
    run = client.tracking.create_run(exp.id)
    client.log_text(run.id, "flavor: sklearn\n", "model/treadle-model.yaml")
    client.log_bytes(run.id, uuid.uuid4().bytes, "model/model.pkl")
    for _ in range(versions):
        client.registry.create_version(name, f"runs:/{run.id}/model")
    client.registry.set_alias(name, "champion", 1, actor="test", reason="first champion")
    return name


def _canary(name: str, model: str = "m", **extra: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": name,
            "routes": [
                {"name": "champion", "model": f"models:/{model}@champion", "weight": 90},
                {"name": "canary", "model": f"models:/{model}/2", "weight": 10},
            ],
            **extra,
        }
    )


def _ab(name: str, model: str, **extra: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": name,
            "ab": {
                "unit_key": "user_id",
                "variants": [
                    {"name": "control", "model": f"models:/{model}@champion", "weight": 50},
                    {"name": "treatment", "model": f"models:/{model}/2", "weight": 50},
                ],
            },
            **extra,
        }
    )


def _feedback(client: Client, name: str, revision: int, variant: str, rewards: list[float]) -> None:
    for reward in rewards:
        client.rollout.record_feedback(f"{name}/{revision}/{variant}/{uuid.uuid4().hex[:16]}", reward)


def test_apply_creates_revisions_only_when_the_spec_changes(client: Client) -> None:
    name = _name()
    first = client.rollout.apply_deployment(_canary(name), actor="ann", reason="start")
    assert (first.revision, first.status, first.created_by, first.reason) == (1, "active", "ann", "start")
    assert client.rollout.apply_deployment(_canary(name)).revision == 1
    changed = _canary(name, shadow={"model": "models:/m/3", "percent": 5})
    second = client.rollout.apply_deployment(changed)
    assert second.revision == 2 and second.spec.shadow is not None and second.spec.shadow.percent == 5
    assert client.rollout.get_deployment(name).revision == 2
    assert client.rollout.get_deployment(name, 1).spec == _canary(name)
    assert [d.revision for d in client.rollout.deployment_history(name)] == [2, 1]
    assert name in {d.name for d in client.rollout.list_deployments()}
    with pytest.raises(NotFound, match="no revision 7"):
        client.rollout.get_deployment(name, 7)
    client.rollout.delete_deployment(name)
    with pytest.raises(NotFound, match="does not exist"):
        client.rollout.get_deployment(name)
    assert name not in {d.name for d in client.rollout.list_deployments()}


def test_traffic_counters_add_up_and_feed_the_stats(client: Client) -> None:
    name = _name()
    client.rollout.apply_deployment(_canary(name))
    for _ in range(3):
        client.rollout.record_traffic(
            name,
            1,
            [
                VariantTraffic(variant="champion", requests=30, errors=1, latency_ms_buckets=histogram([4.0] * 30)),
                VariantTraffic(variant="canary", requests=3, latency_ms_buckets=histogram([40.0] * 3)),
            ],
        )
    client.rollout.record_traffic(
        name, 1, [VariantTraffic(variant="canary", shadow_requests=2, shadow_disagreements=1)]
    )
    stats = client.rollout.get_stats(name)
    champion, canary = stats.variants
    assert (champion.requests, champion.errors, canary.requests, canary.errors) == (90, 3, 9, 0)
    assert champion.error_rate == pytest.approx(3 / 90) and champion.expected_share == pytest.approx(0.9)
    assert canary.observed_share == pytest.approx(9 / 99)
    assert champion.p50_ms is not None and 3.0 < champion.p50_ms <= 5.0
    assert canary.p99_ms is not None and 30.0 < canary.p99_ms <= 50.0
    assert (canary.shadow_requests, canary.shadow_disagreements) == (2, 1)
    assert stats.srm_p_value is not None and not stats.srm and stats.mode == "canary"
    with pytest.raises(InvalidArgument, match="no variant 'nope'"):
        client.rollout.record_traffic(name, 1, [VariantTraffic(variant="nope", requests=1)])
    with pytest.raises(NotFound):
        client.rollout.record_traffic(name, 9, [VariantTraffic(variant="canary", requests=1)])
    with pytest.raises(InvalidArgument, match="latency_ms_buckets"):
        client.rollout.record_traffic(name, 1, [VariantTraffic(variant="canary", latency_ms_buckets=[1] * 99)])
    assert client.rollout.get_stats(name).variants[1].requests == 9  # the refused reports added nothing


def test_concurrent_traffic_reports_lose_nothing(client: Client) -> None:
    name = _name()
    client.rollout.apply_deployment(_canary(name))
    buckets = [1] * N_BUCKETS
    errors: list[BaseException] = []

    def report() -> None:
        try:
            for _ in range(10):
                client.rollout.record_traffic(
                    name,
                    1,
                    [
                        VariantTraffic(variant="champion", requests=2, errors=1, latency_ms_buckets=buckets),
                        VariantTraffic(variant="canary", requests=1),
                    ],
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=report) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    champion, canary = client.rollout.get_stats(name).variants
    assert (champion.requests, champion.errors, canary.requests) == (120, 60, 60)


def test_feedback_is_counted_once_and_checked(client: Client) -> None:
    name = _name()
    client.rollout.apply_deployment(_canary(name))
    decision = f"{name}/1/canary/{uuid.uuid4().hex[:16]}"
    first = client.rollout.record_feedback(decision, 1.0)
    assert first.accepted and (first.deployment, first.revision, first.variant) == (name, 1, "canary")
    again = client.rollout.record_feedback(decision, 0.0)
    assert not again.accepted
    canary = client.rollout.get_stats(name).variants[1]
    assert (canary.rewards, canary.reward_mean) == (1, 1.0)
    for bad in (
        "",
        "no-slashes",
        f"{name}/x/canary/abcdef0123456789",
        f"{name}/1/canary/",
        f"{name}/1/canary/ZZZZZZZZ",
    ):
        with pytest.raises(InvalidArgument, match="decision id"):
            client.rollout.record_feedback(bad, 1.0)
    with pytest.raises(NotFound, match="does not exist"):
        client.rollout.record_feedback(f"{_name()}/1/canary/{uuid.uuid4().hex[:16]}", 1.0)
    with pytest.raises(NotFound, match="no revision 5"):
        client.rollout.record_feedback(f"{name}/5/canary/{uuid.uuid4().hex[:16]}", 1.0)
    with pytest.raises(InvalidArgument, match="no variant 'ghost'"):
        client.rollout.record_feedback(f"{name}/1/ghost/{uuid.uuid4().hex[:16]}", 1.0)


def test_bandit_state_and_binary_rewards(client: Client) -> None:
    name = _name()
    spec = DeploymentSpec.model_validate(
        {
            "name": name,
            "bandit": {
                "policy": "thompson",
                "arms": [{"name": "a", "model": "models:/m/1"}, {"name": "b", "model": "models:/m/2"}],
            },
        }
    )
    client.rollout.apply_deployment(spec)
    client.rollout.record_traffic(
        name, 1, [VariantTraffic(variant="a", requests=5), VariantTraffic(variant="b", requests=4)]
    )
    _feedback(client, name, 1, "a", [1, 0, 1])
    _feedback(client, name, 1, "b", [0])
    a, b = client.rollout.bandit_state(name)
    assert (a.variant, a.pulls, a.rewards, a.reward_sum, a.reward_sq_sum) == ("a", 5, 3, 2.0, 2.0)
    assert (b.variant, b.pulls, b.rewards, b.reward_sum) == ("b", 4, 1, 0.0)
    for bad in (2.0, 5.0, 0.5, -1.0):  # a binary bandit takes 0 or 1, nothing in between
        with pytest.raises(InvalidArgument, match="binary"):
            client.rollout.record_feedback(f"{name}/1/a/{uuid.uuid4().hex[:16]}", bad)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidArgument, match="finite"):
            client.rollout.record_feedback(f"{name}/1/a/{uuid.uuid4().hex[:16]}", bad)
    stats = client.rollout.get_stats(name)
    assert stats.srm_p_value is None and stats.variants[0].expected_share is None


def test_guardrail_breach_rolls_back_once_with_an_alias_note(client: Client) -> None:
    model, name = _model(client), _name()
    spec = _canary(name, model, guardrails={"max_error_rate": 0.05, "min_requests": 100})
    client.rollout.apply_deployment(spec)
    client.rollout.record_traffic(name, 1, [VariantTraffic(variant="canary", requests=99, errors=30)])
    assert client.rollout.evaluate(name, 1).action == "none"  # under min_requests: no verdict yet
    client.rollout.record_traffic(name, 1, [VariantTraffic(variant="canary", requests=101, errors=10)])
    assert client.rollout.get_stats(name).guardrail_breaches[0].startswith("variant 'canary': error rate 20.00%")
    result = client.rollout.evaluate(name, 1)
    assert result.action == "rollback" and result.reason is not None and "error rate" in result.reason
    rolled = result.deployment
    assert (rolled.revision, rolled.status) == (2, "rolled_back")
    assert [v.weight for v in rolled.spec.variants] == [90.0, 0.0]
    assert client.rollout.get_deployment(name).revision == 2
    assert client.rollout.evaluate(name, 1).action == "none"  # stale revision: compare-and-set
    assert client.rollout.evaluate(name, 2).action == "none"  # already rolled back
    history = client.registry.get_alias_history(model, "champion")
    note = history[-1]
    assert (note.from_version, note.to_version, note.actor) == (1, 1, "treadle-rollout")
    assert note.reason is not None and "rolled back" in note.reason and "error rate" in note.reason
    assert client.registry.get_version_by_alias(model, "champion").version == 1


def test_concurrent_evaluations_act_exactly_once(client: Client) -> None:
    model, name = _model(client), _name()
    client.rollout.apply_deployment(_canary(name, model, guardrails={"max_error_rate": 0.01, "min_requests": 10}))
    client.rollout.record_traffic(name, 1, [VariantTraffic(variant="canary", requests=50, errors=25)])
    before = len(client.registry.get_alias_history(model, "champion"))
    actions: list[str] = []

    def evaluate() -> None:
        actions.append(client.rollout.evaluate(name, 1).action)

    threads = [threading.Thread(target=evaluate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(actions) == ["none"] * 5 + ["rollback"]
    assert len(client.registry.get_alias_history(model, "champion")) == before + 1
    assert [d.revision for d in client.rollout.deployment_history(name)] == [2, 1]


def test_auto_promote_moves_the_alias_with_the_reason(client: Client) -> None:
    model, name = _model(client), _name()
    spec = _ab(name, model, auto_promote={"probability": 0.95, "min_samples": 60})
    client.rollout.apply_deployment(spec)
    _feedback(client, name, 1, "control", [1.0] * 6 + [0.0] * 54)
    _feedback(client, name, 1, "treatment", [1.0] * 24 + [0.0] * 35)
    assert client.rollout.evaluate(name, 1).action == "none"  # treatment has 59 < 60 rewards
    _feedback(client, name, 1, "treatment", [1.0])
    stats = client.rollout.get_stats(name)
    assert stats.winner == "treatment" and stats.significant
    assert stats.variants[1].p_value is not None and stats.variants[1].p_value < 0.05
    result = client.rollout.evaluate(name, 1)
    assert result.action == "promote" and result.reason is not None and "treatment" in result.reason
    promoted = result.deployment
    assert (promoted.revision, promoted.status, promoted.spec.mode) == (2, "promoted", "canary")
    assert [(v.name, v.model, v.weight) for v in promoted.spec.variants] == [
        ("control", f"models:/{model}@champion", 1.0)
    ]
    assert client.registry.get_version_by_alias(model, "champion").version == 2
    move = client.registry.get_alias_history(model, "champion")[-1]
    assert (move.from_version, move.to_version, move.actor) == (1, 2, "treadle-rollout")
    assert move.reason is not None and "auto-promote" in move.reason
    assert client.rollout.evaluate(name, 2).action == "none"


def test_manual_promote_and_rollback(client: Client) -> None:
    model, name = _model(client), _name()
    client.rollout.apply_deployment(_canary(name, model))
    with pytest.raises(InvalidArgument, match="no winner"):
        client.rollout.promote(name)
    with pytest.raises(NotFound, match="no variant 'ghost'"):
        client.rollout.promote(name, "ghost")
    rolled = client.rollout.rollback(name, actor="ann", reason="latency looked off")
    assert (rolled.status, rolled.reason, rolled.created_by) == ("rolled_back", "latency looked off", "ann")
    assert client.rollout.rollback(name).revision == rolled.revision  # nothing more to roll back
    client.rollout.apply_deployment(_canary(name, model))  # start again: revision 3, active
    won = client.rollout.promote(name, "champion", actor="ann", reason="control wins")
    assert (won.revision, won.status) == (4, "promoted")
    assert client.registry.get_version_by_alias(model, "champion").version == 1
    moves = client.registry.get_alias_history(model, "champion")
    assert [(m.from_version, m.to_version) for m in moves[-2:]] == [(1, 1), (1, 1)]
    assert moves[-1].reason is not None and "control wins" in moves[-1].reason and moves[-1].actor == "ann"
    other = _name()
    spec = DeploymentSpec.model_validate(
        {
            "name": other,
            "model": model,
            "routes": [
                {"name": "champion", "model": f"models:/{model}@champion"},
                {"name": "stranger", "model": "models:/somebody-else/1"},
            ],
        }
    )
    client.rollout.apply_deployment(spec)
    with pytest.raises(InvalidArgument, match="not a version of the registered model"):
        client.rollout.promote(other, "stranger")


def test_request_log_parts(client: Client) -> None:
    endpoint = _name("endpoint")
    a = client.rollout.add_log_part(endpoint, "a" * 64, 100, 10, 1_000, 2_000)
    client.rollout.add_log_part(endpoint, "b" * 64, 200, 20, 3_000, 4_000)
    assert client.rollout.add_log_part(endpoint, "a" * 64, 100, 10, 1_000, 2_000).created_at == a.created_at
    assert [p.digest[0] for p in client.rollout.list_log_parts(endpoint)] == ["a", "b"]
    assert [p.rows for p in client.rollout.list_log_parts(endpoint, since_ms=2_500)] == [20]
    assert [p.rows for p in client.rollout.list_log_parts(endpoint, until_ms=1_500)] == [10]
    assert client.rollout.list_log_parts(_name("endpoint")) == []
    with pytest.raises(InvalidArgument):
        client.rollout.add_log_part(endpoint, "c" * 64, 1, 1, 5, 4)
