"""The automation of a served deployment: bandits learning from delayed rewards sent to
``POST /feedback``, guardrail rollback on an injected error-rate breach, and auto-promotion that moves
the registry alias (and the served model follows it).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.serving.deploy_support import Constant, infer, register_python, serving, value
from treadle.client import Client
from treadle.rollout import (
    ABSpec,
    AutoPromoteSpec,
    BanditSpec,
    DeploymentSpec,
    GuardrailSpec,
    ReplicaSpec,
    Variant,
)

INLINE = ReplicaSpec(min_replicas=0)


@pytest.fixture
def client(sqlite_uri: str, tmp_path: Path) -> Client:
    return Client(sqlite_uri, str(tmp_path / "artifacts"))


def test_bandit_converges_to_the_better_arm_with_delayed_feedback(client: Client, tmp_path: Path) -> None:
    register_python(client, tmp_path, "offer", Constant(0.0))
    register_python(client, tmp_path, "offer", Constant(1.0))
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="offers",
            bandit=BanditSpec(
                policy="thompson",
                arms=[Variant(name="plain", model="models:/offer/1"), Variant(name="shiny", model="models:/offer/2")],
            ),
            replicas=INLINE,
        )
    )
    rate = {"plain": 0.2, "shiny": 0.7}  # the simulated conversion rate of each arm
    rng = random.Random(7)
    pending: list[tuple[str, float]] = []
    picks: list[str] = []
    with serving(client, "offers") as (url, _), httpx.Client(timeout=30) as http:
        for _ in range(400):
            r = infer(http, url, "offers")
            assert r.status_code == 200, r.text
            params = r.json()["parameters"]
            picks.append(params["variant"])
            assert value(r) == (1.0 if params["variant"] == "shiny" else 0.0)
            pending.append((params["decision_id"], float(rng.random() < rate[params["variant"]])))
            if len(pending) > 15:  # rewards arrive 15 requests late
                decision, reward = pending.pop(0)
                got = http.post(f"{url}/feedback", json={"decision_id": decision, "reward": reward})
                assert got.status_code == 200 and got.json()["accepted"] is True, got.text
        again = http.post(f"{url}/feedback", json={"decision_id": decision, "reward": reward})
        assert again.status_code == 200 and again.json()["accepted"] is False  # counted once
        bad = http.post(f"{url}/feedback", json={"decision_id": "offers/1/nope/0123", "reward": 1})
        assert bad.status_code in (400, 404) and "error" in bad.json()
        fresh = infer(http, url, "offers").json()["parameters"]["decision_id"]
        five = http.post(f"{url}/feedback", json={"decision_id": fresh, "reward": 5})
        assert five.status_code == 400 and "binary" in five.json()["error"], five.text
        huge = http.post(f"{url}/feedback", content=b'{"decision_id": "%s", "reward": 1e400}' % fresh.encode())
        assert huge.status_code == 400 and "error" in huge.json(), huge.text
        gone = http.post(f"{url}/feedback", json={"decision_id": "offers/9/plain/0123456789abcdef", "reward": 1})
        assert gone.status_code == 404 and "no revision 9" in gone.json()["error"], gone.text
        late = Counter(picks[-150:])
    assert late["shiny"] / 150 > 0.75, late
    arms = {a.variant: a for a in client.rollout.bandit_state("offers")}
    assert arms["shiny"].rewards > arms["plain"].rewards
    assert arms["shiny"].reward_sum / arms["shiny"].rewards > arms["plain"].reward_sum / max(arms["plain"].rewards, 1)


def test_error_rate_breach_rolls_the_canary_back(client: Client, tmp_path: Path) -> None:
    register_python(client, tmp_path, "risk", Constant(1.0))
    register_python(client, tmp_path, "risk", Constant(2.0, fail_below=0.0))  # raises on negative x
    client.set_alias("risk", "champion", 1)
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="risk",
            routes=[
                Variant(name="stable", model="models:/risk@champion", weight=50),
                Variant(name="canary", model="models:/risk/2", weight=50),
            ],
            guardrails=GuardrailSpec(max_error_rate=0.1, min_requests=20),
            replicas=INLINE,
        )
    )
    rng = random.Random(3)
    errors = Counter[str]()
    with serving(client, "risk") as (url, endpoint), httpx.Client(timeout=30) as http:
        for _ in range(600):
            if endpoint.deployment is not None and endpoint.deployment.status == "rolled_back":
                break
            r = infer(http, url, "risk", rng.uniform(-1, 1))
            if r.status_code != 200:
                assert r.status_code == 500 and "canary" in r.json()["error"]
                errors["canary"] += 1
        assert endpoint.deployment is not None and endpoint.deployment.status == "rolled_back"
        assert errors["canary"] >= 3
        after = [infer(http, url, "risk", rng.uniform(-1, 1)) for _ in range(60)]
    assert all(r.status_code == 200 and r.json()["parameters"]["variant"] == "stable" for r in after)
    current = client.rollout.get_deployment("risk")
    assert current.status == "rolled_back" and current.revision == 2
    assert current.reason is not None and "error" in current.reason
    assert [v.weight for v in current.spec.variants] == [50, 0]
    note = client.get_alias_history("risk", "champion")[-1]  # oldest first
    assert (note.from_version, note.to_version, note.actor) == (1, 1, "treadle-rollout")
    assert note.reason is not None and "rolled back" in note.reason and "error rate" in note.reason
    assert client.get_model_version_by_alias("risk", "champion").version == 1  # the alias stays put


def test_auto_promote_moves_the_alias_and_the_server_follows(client: Client, tmp_path: Path) -> None:
    register_python(client, tmp_path, "rank", Constant(1.0))
    register_python(client, tmp_path, "rank", Constant(2.0))
    client.set_alias("rank", "champion", 1)
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="rank",
            ab=ABSpec(
                unit_key="user",
                variants=[
                    Variant(name="champion", model="models:/rank@champion"),
                    Variant(name="challenger", model="models:/rank/2"),
                ],
            ),
            auto_promote=AutoPromoteSpec(probability=0.95, min_samples=30),
            replicas=INLINE,
        )
    )
    rate = {"champion": 0.2, "challenger": 0.8}
    rng = random.Random(11)
    with serving(client, "rank") as (url, endpoint), httpx.Client(timeout=30) as http:
        for i in range(800):
            if endpoint.deployment is not None and endpoint.deployment.status == "promoted":
                break
            r = infer(http, url, "rank", parameters={"user": f"u{i}"})
            assert r.status_code == 200, r.text
            params = r.json()["parameters"]
            reward = float(rng.random() < rate[params["variant"]])
            sent = http.post(f"{url}/feedback", json={"decision_id": params["decision_id"], "reward": reward})
            assert sent.status_code == 200 and sent.json()["accepted"] is True
        assert endpoint.deployment is not None and endpoint.deployment.status == "promoted"
        after = [infer(http, url, "rank", parameters={"user": f"v{i}"}) for i in range(20)]
    assert client.get_model_version_by_alias("rank", "champion").version == 2
    move = client.get_alias_history("rank", "champion")[-1]  # oldest first
    assert (move.from_version, move.to_version) == (1, 2)
    assert move.reason is not None and "auto-promote" in move.reason and "challenger" in move.reason
    # all traffic now goes to the alias, and the alias model was reloaded at version 2
    assert all(r.status_code == 200 and value(r) == 2.0 and r.json()["model_version"] == "2" for r in after)
    assert client.rollout.get_deployment("rank").status == "promoted"
