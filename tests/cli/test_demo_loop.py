"""The closed-loop demo scenario end to end on a temp SQLite store: drift alert -> event -> scheduler
-> retraining -> canary -> promotion, with the lineage of a served prediction back to its data."""

from __future__ import annotations

import pytest

import treadle as td
from treadle.cli._demo import populate, scenarios
from treadle.cli._demo_loop import DATASET, DEPLOYMENT, LOOP, MODEL, MONITOR, RETRAIN
from treadle.rollout._request_log import read_request_log


@pytest.mark.slow
def test_the_demo_loop_retrains_on_drift_and_promotes_the_canary(client: td.Client) -> None:
    assert scenarios()[-1] is LOOP  # `treadle demo` plays it last, after the scenarios it builds on
    ctx = populate(td.set_uri(client.uri, client.artifacts_root), [LOOP])
    loop = ctx.shared["loop"]

    # the monitor saw the recession: a drifted window fired the alert, which wrote the event
    windows = td.monitoring.windows(MONITOR)
    assert len(windows) == 2 and all(w.rows == 300 for w in windows)
    assert (windows[-1].drift_share or 0) > 0.3 and "drift" in [r for w in windows for r in w.fired]
    assert {"income", "credit_score", "purpose_code"} <= {c.column for c in windows[-1].columns if c.drifted}
    assert windows[-1].labelled == 300 and windows[-1].performance is not None
    # the reference came through lineage, and CBPE estimated accuracy from the served inputs (ints included)
    monitor = td.monitoring.get_monitor(MONITOR)
    assert monitor.reference is not None and monitor.reference.found_by == "lineage"
    assert all(w.estimated is not None and 0.0 <= w.estimated["accuracy"] <= 1.0 for w in windows)
    events = client.events.read(kinds=["drift_detected"]).events
    assert events and events[-1].payload["monitor"] == MONITOR and events[-1].payload["deployment"] == DEPLOYMENT

    # the event schedule queued the retraining, which ran on the fresh (recession) dataset version
    runs = [r for r in client.pipelines.list_runs(pipeline=RETRAIN)]
    assert len(runs) == 1 and runs[0].status == "SUCCEEDED" and runs[0].trigger == "event"
    assert runs[0].trigger_info["event_id"] == events[-1].id
    retrained = loop["retrained"]
    assert retrained == 2 and client.registry.get_model(MODEL).latest_version == 2

    # the canary won on rewards and the controller promoted it: the alias moved by itself
    assert loop["champion"] == retrained
    assert client.get_model_version_by_alias(MODEL, "champion").version == retrained
    moves = client.get_alias_history(MODEL, "champion")
    assert moves[-1].reason is not None and "auto-promote" in moves[-1].reason
    history = td.deployments.history(DEPLOYMENT)
    assert max(history, key=lambda d: d.revision).status == "promoted"
    assert any(d.spec.auto_promote is not None for d in history)

    # lineage: a prediction the canary served -> model version -> its run -> the dataset version it read
    log = read_request_log(DEPLOYMENT, client)
    served = log[log["variant"] == "canary"]
    assert len(served) > 0 and set(served["model_version"]) == {str(retrained)}
    version = client.get_model_version(MODEL, retrained)
    node = client.lineage.find_node(f"run:{version.run_id}")
    upstream = client.lineage.upstream(node.id, hops=6)
    assert f"datasets:/{DATASET}/2" in {n.uri for n in upstream.nodes}
    blessing = td.evaluation.blessing_of(f"models:/{MODEL}/{retrained}")
    assert blessing is not None and blessing["passed"] is True

    # the champion's evaluation (td.evaluate, with slices by purpose) and the scenario's summary run
    exp = client.tracking.get_experiment_by_name(LOOP.name)
    tracked = client.tracking.search_runs(experiment_ids=[exp.id], max_results=1000).runs
    evaluation = next(r for r in tracked if r.name == f"evaluate-{MODEL}-v1" and r.parent_id is None)
    assert evaluation.tags["treadle.evaluation"] == "true" and evaluation.tags["treadle.evaluation.version"] == "1"
    assert any(k.startswith("slice/purpose:") for k in evaluation.metrics)
    summary = next(r for r in tracked if r.name == "closed-loop")
    assert summary.status == "FINISHED" and summary.params["champion_after"] == str(retrained)
    assert summary.metrics["drifted_accuracy"] < summary.metrics["normal_accuracy"]
