"""``treadle demo``: populates realistic experiments, re-runs cleanly, then serves."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.cli._demo import scenarios

EXPERIMENTS = ("iris-classifiers", "wine-sweep", "diabetes-regression")


def _runs(client: td.Client, name: str) -> list[td.Run]:
    exp = client.tracking.get_experiment_by_name(name)
    return client.tracking.search_runs(experiment_ids=[exp.id], max_results=1000).runs


@pytest.mark.slow
def test_demo_populates_reruns_and_serves(ok: Ok, client: td.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = {s.name: s.runs for s in scenarios()}
    assert set(EXPERIMENTS) <= set(planned)

    text = ok("demo", "--no-serve")
    for name in EXPERIMENTS:
        assert name in text
        runs = _runs(client, name)
        assert len(runs) == planned[name]
        assert all(r.status == "FINISHED" for r in runs)

    iris = _runs(client, "iris-classifiers")
    run = iris[0]
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy", "test_accuracy"} <= set(run.metrics)
    assert run.params["epochs"] == "40" and run.tags["dataset"] == "iris"
    history = client.get_metric_history(run.id, "val_loss")
    assert history.steps == list(range(40))
    paths = {f.path for f in client.list_artifacts(run.id)}
    assert {"confusion_matrix.png", "predictions.json", "config.yaml"} <= paths
    assert client.read_artifact(run.id, "confusion_matrix.png")[:8] == b"\x89PNG\r\n\x1a\n"
    node = client.lineage.find_node(f"run:{run.id}")
    assert "sklearn://iris" in {n.uri for n in client.lineage.upstream(node.id, hops=1).nodes}

    wine = _runs(client, "wine-sweep")
    parent = next(r for r in wine if r.parent_id is None)
    children = [r for r in wine if r.parent_id == parent.id]
    assert len(children) == len(wine) - 1 >= 2
    assert parent.tags["best_run_id"] in {c.id for c in children}
    assert len(client.get_metric_history(parent.id, "trial_val_accuracy").steps) == len(children)

    boosted = next(r for r in _runs(client, "diabetes-regression") if r.name.startswith("gbr-"))
    assert len(client.get_metric_history(boosted.id, "val_rmse").steps) == int(boosted.params["n_estimators"])
    assert "predicted_vs_actual.png" in {f.path for f in client.list_artifacts(boosted.id)}

    # The registry scenario: two versions, the better one approved behind champion and production.
    model = client.registry.get_model("iris-classifier")
    assert model.latest_version == 2 and model.aliases["champion"] == model.aliases["production"]
    assert model.aliases["challenger"] != model.aliases["champion"]
    assert client.registry.get_version_by_alias("iris-classifier", "production").approval == "approved"
    assert [m.reason for m in client.get_alias_history("iris-classifier", "champion")] == ["best validation accuracy"]
    predictor = client.load_model("models:/iris-classifier@champion")
    assert len(predictor.predict(predictor.input_example)) == 5

    # The serving scenario: a canary (with a shadow) and an A/B test, served with real traffic.
    _assert_served(client, rounds=1)

    # Again, with an experiment deleted meanwhile and the server started at the end.
    client.tracking.delete_experiment(client.tracking.get_experiment_by_name("wine-sweep").id)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("treadle.server.run_server", lambda **kwargs: calls.append(kwargs))
    text = ok("demo", "--port", "8799")
    assert "http://127.0.0.1:8799" in text
    assert calls and calls[0]["port"] == 8799 and calls[0]["uri"] == client.uri
    for name in EXPERIMENTS:
        assert len(_runs(client, name)) == 2 * planned[name]
    _assert_served(client, rounds=2)  # the same specs again: no new revision, the traffic adds up


def _assert_served(client: td.Client, rounds: int) -> None:
    """What ``rounds`` plays of the serving scenario leave: traffic, rewards, history and request log."""
    from treadle.cli import _demo_serving as serving
    from treadle.serving._reqlog import read_request_log

    canary_total = rounds * (serving.OIP_REQUESTS + serving.INVOCATIONS)
    ab_total = rounds * serving.AB_USERS * serving.AB_PER_USER
    assert {"iris-canary", "iris-ab"} <= {d.name for d in td.deployments.list_deployments(client=client)}
    for name, total in (("iris-canary", canary_total), ("iris-ab", ab_total)):
        assert [d.revision for d in td.deployments.history(name, client=client)] == [1]
        assert td.deployments.get(name, client=client).status == "active"
        stats = td.deployments.status(name, client=client)
        assert sum(v.requests for v in stats.variants) == total
        for v in stats.variants:  # every variant served, nothing failed, every answer was rewarded
            assert v.requests > 0 and v.errors == 0 and v.rewards == v.requests
            assert v.reward_mean is not None and 0.5 < v.reward_mean <= 1.0 and v.p99_ms is not None
        assert stats.guardrail_breaches == []
        log = read_request_log(name, client)
        primary = log[log["route"] == "primary"]
        assert len(primary) == total and set(primary["status"]) == {200}
        assert primary["decision_id"].str.startswith(f"{name}/1/").all()
    canary = {v.variant: v for v in td.deployments.status("iris-canary", client=client).variants}
    assert 0.05 * canary_total < canary["canary"].requests < 0.4 * canary_total  # weight 20 of 100
    assert sum(v.shadow_requests for v in canary.values()) > 0
    ab_log = read_request_log("iris-ab", client)
    assert (ab_log["route"] == "primary").all()  # no shadow in the A/B test

    runs = _runs(client, serving.EXPERIMENT)
    assert len(runs) == rounds and all(r.status == "FINISHED" for r in runs)
    for run in runs:
        assert run.metrics["requests"] == run.metrics["feedback"] == serving.total_requests()
        assert run.metrics["request_log_rows"] >= serving.total_requests()
        assert run.params["ab_sticky"] == "True"
        assert {"canary.champion.requests", "canary.canary.p99_ms", "ab.treatment.reward_mean"} <= set(run.metrics)


def test_demo_without_its_dependencies(cli: Invoke, monkeypatch: pytest.MonkeyPatch, client: td.Client) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    assert_user_error(cli("demo", "--no-serve"), "pip install 'treadle[demo]'")
    assert client.tracking.list_experiments() == []
