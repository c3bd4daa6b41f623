"""The closed loop on SQLite: the ``retrain_on_drift`` template (gate pass -> register -> canary with
auto-promotion; gate fail -> nothing deployed), the ``canary`` component's refusals, and a real drift
alert that fires an event, which the scheduler turns into a retraining run in a child process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.tree import DecisionTreeClassifier

import treadle as td
from treadle.cli._demo_loop_data import CATEGORICAL, FEATURES, TARGET, applications, loan_features
from treadle.client import _fluent as fluent
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines.components import canary
from treadle.pipelines.templates import retrain_on_drift, retrain_on_drift_flow, wire_to_monitor

MODEL, DEPLOYMENT, DATASET = "loan-model", "loans-live", "loans"
TREE = {
    "class": "sklearn.tree.DecisionTreeClassifier",
    "params": {"max_depth": 5, "min_samples_leaf": 10, "random_state": 0},
}
DUMMY = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}


def _flow(**options: Any) -> Any:
    return retrain_on_drift(
        "loans-retrain",
        dataset=DATASET,
        target=TARGET,
        model_name=MODEL,
        deployment=DEPLOYMENT,
        estimator=TREE,
        thresholds={"accuracy": {"min_change": 0.02}},
        features=FEATURES,
        percent=25.0,
        min_samples=30,
        **options,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[td.Client]:
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'loop.db'}", str(tmp_path / "artifacts"))
    td.datasets.create(DATASET, loan_features(applications(600, 0)))
    td.deployments.apply(
        {
            "name": DEPLOYMENT,
            "model": MODEL,
            "routes": [{"name": "champion", "model": f"models:/{MODEL}@champion"}],
            "replicas": {"min_replicas": 0},
        }
    )
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()


def _rewards(client: td.Client, revision: int, variant: str, n: int, wins: int) -> None:
    for i in range(n):
        client.rollout.record_feedback(f"{DEPLOYMENT}/{revision}/{variant}/{uuid.uuid4().hex[:16]}", float(i < wins))


def test_the_template_is_one_importable_pipeline_with_the_arguments_as_defaults() -> None:
    flow = _flow()
    assert flow.name == "loans-retrain" and flow.source == "treadle.pipelines.templates:retrain_on_drift_flow"
    steps = [s.name for s in flow.spec.steps]
    assert steps == ["ingest", "validate", "split", "train", "evaluate_model", "register", "canary"]
    assert steps == [s.name for s in retrain_on_drift_flow.spec.steps]  # what the scheduler's child imports
    defaults = {p.name: p.default for p in flow.spec.params}
    assert defaults["dataset"] == DATASET and defaults["percent"] == 25.0 and defaults["stratify"] == TARGET
    assert defaults["version"] == "latest" and defaults["require_blessing"] is True
    register = next(s for s in flow.spec.steps if s.name == "register")
    assert register.inputs["alias"].value is None  # the canary, not the pipeline, moves the alias
    with pytest.raises(InvalidArgument, match="no parameter 'percnt'"):
        _flow(percnt=5)


@pytest.mark.slow  # three pipeline runs: ~10 s
def test_retrain_gate_register_canary_promote_and_hold_back(client: td.Client) -> None:
    flow = _flow()
    first = flow.run()  # no champion yet: the first version becomes it, with all the traffic
    assert first.output["deployed"] and first["register"]["version"] == 1
    assert client.get_model_version_by_alias(MODEL, "champion").version == 1
    blessing = td.evaluation.blessing_of(f"models:/{MODEL}/1")
    assert blessing is not None and blessing["passed"] is True
    live = td.deployments.get(DEPLOYMENT)
    assert [(r.name, r.model, r.weight) for r in live.spec.routes or []] == [
        ("champion", f"models:/{MODEL}@champion", 100.0)
    ]

    td.datasets.create(DATASET, loan_features(applications(600, 1, recession=True)))  # the fresh, drifted data
    second = flow.run()
    report = second["evaluate_model"]
    assert report["passed"] and report["champion_version"] == 1 and report["candidate"] > report["champion"] + 0.02
    assert second["register"]["version"] == 2 and second["register"]["alias"] is None
    assert client.get_model_version_by_alias(MODEL, "champion").version == 1  # not moved by the pipeline
    out = second.output
    assert out["deployed"] and out["variant"] == "canary" and out["model"] == f"models:/{MODEL}/2"
    live = td.deployments.get(DEPLOYMENT)
    assert live.revision == out["revision"] and live.spec.model == MODEL
    assert [(r.name, r.model, r.weight) for r in live.spec.routes or []] == [
        ("champion", f"models:/{MODEL}@champion", 75.0),
        ("canary", f"models:/{MODEL}/2", 25.0),
    ]
    assert live.spec.auto_promote is not None and live.spec.auto_promote.enabled
    assert live.spec.auto_promote.min_samples == 30
    ingest_run = client.get_run(second.steps["ingest"].run_id)
    assert ingest_run.params["source"] == f"datasets:/{DATASET}/2"  # @latest: the fresh version

    # the traffic decides: the canary is right far more often, so the controller promotes it
    _rewards(client, live.revision, "champion", 90, 54)
    _rewards(client, live.revision, "canary", 60, 54)
    decision = client.rollout.evaluate(DEPLOYMENT, live.revision)
    assert decision.action == "promote", decision.reason
    assert client.get_model_version_by_alias(MODEL, "champion").version == 2
    assert [r.model for r in decision.deployment.spec.routes or []] == [f"models:/{MODEL}@champion"]

    worse = flow.run(estimator=DUMMY)  # the gate fails: nothing registered, nothing deployed
    assert worse.status == "SUCCEEDED" and not worse["evaluate_model"]["passed"]
    assert worse["register"]["registered"] is False and worse.output["deployed"] is False
    assert td.deployments.get(DEPLOYMENT).revision == decision.deployment.revision
    assert client.registry.get_model(MODEL).latest_version == 2
    assert client.get_model_version_by_alias(MODEL, "champion").version == 2


def _register_unevaluated(client: td.Client) -> int:
    frame = loan_features(applications(100, 3))
    with td.start_run(name="by-hand"):
        uri = td.log_model(DecisionTreeClassifier(max_depth=2).fit(frame[FEATURES], frame[TARGET]), "model")
    return td.register_model(uri, MODEL).version


def test_canary_refuses_unblessed_versions_and_other_deployment_kinds(client: td.Client) -> None:
    version = _register_unevaluated(client)
    release = {"registered": True, "name": MODEL, "version": version}
    refused = canary(release, DEPLOYMENT)
    assert refused["deployed"] is False and "has no blessing" in refused["reason"]
    assert td.deployments.get(DEPLOYMENT).revision == 1
    skipped = canary({"registered": False, "reason": "not registered: worse"}, DEPLOYMENT)
    assert skipped == {**skipped, "deployed": False, "reason": "not registered: worse"}
    with pytest.raises(InvalidArgument, match="percent must be between 0 and 100"):
        canary(release, DEPLOYMENT, percent=100)
    with pytest.raises(NotFound, match="no deployment 'nowhere'"):
        canary(release, "nowhere", require_blessing=False)
    td.deployments.apply(
        {
            "name": "loans-ab",
            "ab": {
                "unit_key": "user",
                "variants": [
                    {"name": "a", "model": f"models:/{MODEL}/1"},
                    {"name": "b", "model": f"models:/{MODEL}/1"},
                ],
            },
        }
    )
    with pytest.raises(InvalidArgument, match="a canary needs a routes deployment"):
        canary(release, "loans-ab", require_blessing=False)
    td.deployments.apply({"name": "other-live", "routes": [{"name": "main", "model": "models:/other-model@champion"}]})
    with pytest.raises(InvalidArgument, match="serves 'other-model', not 'loan-model'"):
        canary(release, "other-live", require_blessing=False)
    # without the blessing requirement an unevaluated version goes out (the first: as the champion)
    done = canary(release, DEPLOYMENT, require_blessing=False)
    assert done["deployed"] and client.get_model_version_by_alias(MODEL, "champion").version == version


def test_wire_to_monitor_needs_the_monitor_and_wires_once(client: td.Client) -> None:
    flow = _flow()
    with pytest.raises(NotFound, match="nowhere"):
        wire_to_monitor(flow, "nowhere")
    from treadle.monitors import MonitorSpec

    client.monitors.create_monitor(MonitorSpec(name="loans-drift", deployment=DEPLOYMENT))
    schedule = wire_to_monitor(flow, "loans-drift")
    assert schedule.kind == "event" and schedule.events == ["drift_detected"]
    assert schedule.filter == {"monitor": "loans-drift"} and schedule.pipeline == "loans-retrain"
    assert wire_to_monitor(flow, "loans-drift").id == schedule.id
    assert len(client.schedules.list_schedules("loans-retrain")) == 1
    other = wire_to_monitor(flow, "loans-drift", params={"percent": 50.0})
    assert other.id != schedule.id and other.params == {"percent": 50.0}
    with pytest.raises(InvalidArgument, match="has no param 'percnt'"):
        wire_to_monitor(flow, "loans-drift", params={"percnt": 5})
    both = wire_to_monitor(flow, "loans-drift", events=["drift_detected", "performance_degraded"])
    assert both.id not in (schedule.id, other.id) and both.events == ["drift_detected", "performance_degraded"]


@pytest.mark.slow
def test_a_drift_alert_queues_the_retraining_and_the_scheduler_runs_it(client: td.Client, tmp_path: Path) -> None:
    from treadle.cli._demo_loop_data import serve_frame
    from treadle.monitors import AlertRule, WindowSpec
    from treadle.pipelines._scheduler import Scheduler

    flow = _flow()
    assert flow.run().output["deployed"]  # v1: the champion, trained on dataset v1
    td.monitoring.create_monitor(
        "loans-drift",
        DEPLOYMENT,
        reference=f"{DATASET}@1",
        target=TARGET,
        features=FEATURES,
        categorical=CATEGORICAL,
        window=WindowSpec(kind="count", rows=150, min_rows=50),
        alerts=[AlertRule(name="drift", metric="drift_share", op=">", threshold=0.3)],
    )
    schedule = wire_to_monitor(flow, "loans-drift")
    normal = serve_frame(client, DEPLOYMENT, loan_features(applications(150, 10)), "n", reward=False)
    drifted = loan_features(applications(150, 11, recession=True))
    served = serve_frame(client, DEPLOYMENT, drifted, "d", reward=False)
    logged = td.monitoring.log_labels(normal.ids + served.ids, normal.labels + served.labels, endpoint=DEPLOYMENT)
    assert logged.accepted == 300 and not logged.unknown
    td.datasets.create(DATASET, loan_features(applications(600, 12, recession=True)))

    windows = td.monitoring.run_monitor("loans-drift", now_ms=int(time.time() * 1000) + 6_000)
    assert [w.rows for w in windows] == [150, 150]
    assert windows[0].fired == [] and (windows[0].drift_share or 0) <= 0.3
    assert windows[1].fired == ["drift"] and (windows[1].drift_share or 0) > 0.3
    events = client.events.read(kinds=["drift_detected"]).events
    assert [e.payload["monitor"] for e in events] == ["loans-drift"]

    scheduler = Scheduler(client.uri, client.artifacts_root, log_dir=tmp_path / "logs", stale_after_s=600)
    tick = scheduler.tick()
    assert tick.leader and [r.pipeline for r in tick.fired] == ["loans-retrain"]
    run = tick.fired[0]
    assert run.trigger == "event" and run.trigger_info["schedule_id"] == schedule.id
    assert run.trigger_info["payload"]["rule"] == "drift" and run.id in tick.launched
    scheduler.wait(240)  # the child: python -m treadle pipelines run --queued ID, importing the template
    detail = client.pipelines.get_run_detail(run.id)
    log_text = next((tmp_path / "logs").glob("*.log")).read_text()
    assert detail.run.status == "SUCCEEDED", f"{detail.run.error}\n{log_text[-3000:]}"
    assert detail.run.params["dataset"] == DATASET and detail.run.params["percent"] == 25.0
    assert client.registry.get_model(MODEL).latest_version == 2
    routes = {r.name: r.model for r in td.deployments.get(DEPLOYMENT).spec.routes or []}
    assert routes == {"champion": f"models:/{MODEL}@champion", "canary": f"models:/{MODEL}/2"}
    assert scheduler.tick().fired == []  # the event fired once
    scheduler.stop()
