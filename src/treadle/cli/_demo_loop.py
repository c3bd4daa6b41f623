"""Demo scenario: the closed loop, from data to a canary that promotes itself after a drift alert.

1. **data + features**: 2,000 loan applications versioned as ``loan-applications``, with the
   feature transform (:data:`~treadle.cli._demo_loop_data.loan_features`) applied in batch;
2. **training**: the ``loan-training`` pipeline (ingest -> split -> tune (3 trials) -> train ->
   evaluate_model -> register) makes the first ``loan-model`` the ``champion``;
3. **evaluation**: ``td.evaluate`` of the champion with slices by purpose (plots, explanations);
4. **deployment + monitor**: ``loan-scoring`` serves ``models:/loan-model@champion`` (with an empty
   canary slot); the monitor ``loan-drift`` watches its request log against the champion's training
   data and alerts when more than 30% of the columns drift; the retraining template
   ``loan-retrain`` is wired to that alert;
5. **traffic**: the real inference server answers 300 normal applications, then 300 from a
   recession (incomes down, more business loans: drift), and their labels arrive;
6. **monitor**: two windows; the second drifts, the alert fires, a ``drift_detected`` event is written;
7. **scheduler**: one tick fires the event schedule; the queued retraining run is executed here
   (as the scheduler's child would) on the fresh, recession-era dataset version: it beats the
   champion on that data, is registered and canaried at 30% with auto-promotion;
8. **canary**: more recession traffic with rewards; the rollout controller promotes the canary
   (the alias moves to the retrained version) once it is better with 95% probability.

A second demo starts the story again: new dataset version, a new champion, the same monitor
re-created (it only reads traffic from its creation on) and the same schedule.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.cli._demo_loop_data import (
    CATEGORICAL,
    FEATURES,
    TARGET,
    Sent,
    applications,
    loan_features,
    send,
    serving,
)
from treadle.errors import NotFound
from treadle.monitoring._runner import LOG_GRACE_MS  # the log is read up to now - grace
from treadle.monitors import AlertRule, DriftConfig, WindowSpec
from treadle.pipelines import pipeline
from treadle.pipelines.components import ingest, register, split, train, tune
from treadle.pipelines.components._evaluate_model import evaluate_model
from treadle.pipelines.templates import retrain_on_drift, wire_to_monitor

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.datasets import DatasetVersion

EXPERIMENT = "closed-loop"
DATASET, MODEL, DEPLOYMENT, MONITOR, RETRAIN = (
    "loan-applications",
    "loan-model",
    "loan-scoring",
    "loan-drift",
    "loan-retrain",
)
# A tree answers one row in well under a millisecond: the demo's traffic is one request per row
TREE = {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}}
SPACE = {"max_depth": {"low": 3, "high": 8}, "min_samples_leaf": {"low": 1, "high": 30}}
ROWS, WINDOW, CANARY_TRAFFIC, CANARY_BATCH = 2000, 300, 1000, 100
CANARY_PERCENT, MIN_SAMPLES = 30.0, 60


@pipeline(name="loan-training", experiment=EXPERIMENT)
def loan_training(dataset: str = DATASET, model_name: str = MODEL, n_trials: int = 3) -> Any:
    """Ingest -> split -> tune -> train -> evaluate (a value gate: the first model) -> register as champion."""
    train_df, test_df = split(ingest(dataset), test_size=0.25, stratify=TARGET, seed=0)
    best = tune(train_df, TARGET, estimator=TREE, space=SPACE, n_trials=n_trials, cv=3, features=FEATURES)
    model = train(train_df, TARGET, estimator=best, features=FEATURES)
    # a value gate only: the first model of each demo becomes the champion whatever came before
    gate = {"accuracy": {"lower": 0.6}}
    report = evaluate_model(model, test_df, TARGET, model_name=model_name, thresholds=gate, features=FEATURES)
    return register(model, model_name, report=report, example=test_df, features=FEATURES)


def _base_spec() -> dict[str, Any]:
    """The deployment before any canary: everything to the champion, an empty canary slot."""
    champion = f"models:/{MODEL}@champion"
    return {
        "name": DEPLOYMENT,
        "model": MODEL,
        "routes": [
            {"name": "champion", "model": champion, "weight": 100},
            {"name": "canary", "model": champion, "weight": 0},
        ],
        "guardrails": {"max_error_rate": 0.05, "min_requests": 50},
        "replicas": {"min_replicas": 0},  # in the server's threads: no worker processes to start
    }


def _data(ctx: DemoContext, seed: int) -> DatasetVersion:
    """Raw applications through the feature transform (in batch), versioned as the training data."""
    normal = loan_features(applications(ROWS, seed))
    version = td.datasets.create(DATASET, normal, description="loan applications with features", client=ctx.client)
    ctx.step(f"{DATASET} v{version.version}")
    return version


def _train(ctx: DemoContext) -> dict[str, Any]:
    result = loan_training.run(client=ctx.client)
    release = result.output
    ctx.step(f"loan-training -> {MODEL} v{release['version']} (champion)")
    ctx.shared["loop_training_run"] = result.id
    return {"release": release, "tuned": result["tune"]}


def _evaluate(ctx: DemoContext, holdout: Any) -> Any:
    evaluation = td.evaluate(
        f"models:/{MODEL}@champion",
        holdout,
        targets=TARGET,
        slices=["purpose"],
        experiment=EXPERIMENT,
        client=ctx.client,
    )
    ctx.step(f"evaluated the champion: accuracy {evaluation.metrics['accuracy']:.3f}")
    return evaluation


def _wire(ctx: DemoContext, tuned: dict[str, Any]) -> Any:
    client = ctx.client
    td.deployments.apply(_base_spec(), reason="demo: the champion, with an empty canary slot", client=client)
    with contextlib.suppress(NotFound):  # a second demo starts the story afresh: windows from now on
        td.monitoring.delete_monitor(MONITOR, client=client)
    td.monitoring.create_monitor(
        MONITOR,
        DEPLOYMENT,
        # no reference given: lineage finds the champion's training data, five hops up through the pipeline's steps
        target=TARGET,
        features=FEATURES,
        categorical=CATEGORICAL,
        window=WindowSpec(kind="count", rows=WINDOW, min_rows=50),
        # KS / chi-square with Benjamini-Hochberg: a 300-row window of normal traffic stays quiet
        drift=DriftConfig(default_numeric="ks", default_categorical="chisquare", correction="fdr"),
        alerts=[AlertRule(name="drift", metric="drift_share", op=">", threshold=0.3)],
        interval_s=60,
        client=client,
    )
    estimator = {k: v for k, v in tuned.items() if k in ("class", "params")}
    flow = retrain_on_drift(
        RETRAIN,
        dataset=DATASET,
        target=TARGET,
        model_name=MODEL,
        deployment=DEPLOYMENT,
        estimator=estimator,
        thresholds={"accuracy": {"min_change": 0.02}},
        features=FEATURES,
        percent=CANARY_PERCENT,
        min_samples=MIN_SAMPLES,
    )
    schedule = wire_to_monitor(flow, MONITOR, client=client)
    ctx.step(f"{DEPLOYMENT} + monitor {MONITOR} -> {RETRAIN}")
    return schedule


def _traffic(ctx: DemoContext, seed: int) -> dict[str, Any]:
    client = ctx.client
    normal = loan_features(applications(WINDOW, seed + 10))
    recession = loan_features(applications(WINDOW, seed + 11, recession=True))
    stamp = int(time.time())
    with serving(client, DEPLOYMENT) as url:
        before = send(url, DEPLOYMENT, normal, f"loan-{stamp}-a", reward=False)
        during = send(url, DEPLOYMENT, recession, f"loan-{stamp}-b", reward=False)
    logged = td.monitoring.log_labels(
        before.ids + during.ids, before.labels + during.labels, endpoint=DEPLOYMENT, client=client
    )
    ctx.step(f"served {len(before.ids) + len(during.ids)} requests, {logged.accepted} labels")
    return {"normal_accuracy": before.correct / WINDOW, "drifted_accuracy": during.correct / WINDOW}


def _monitor(ctx: DemoContext) -> list[Any]:
    now = int(time.time() * 1000) + LOG_GRACE_MS + 1  # the log is flushed: every window is complete
    windows = td.monitoring.run_monitor(MONITOR, now_ms=now, client=ctx.client)
    fired = [w for w in windows if w.fired]
    shares = ", ".join(f"{w.drift_share:.2f}" for w in windows if w.drift_share is not None)
    ctx.step(f"monitor: drift share {shares}" + (" -> alert" if fired else ""))
    return windows


def _retrain(ctx: DemoContext) -> Any:
    """One scheduler tick fires the event schedule; the queued run is executed here, as the
    scheduler's child process would (``python -m treadle pipelines run --queued ID``)."""
    from treadle.pipelines import run_queued
    from treadle.pipelines._scheduler import LEASE, Scheduler

    client = ctx.client
    scheduler = Scheduler(client.uri, client.artifacts_root, max_concurrent=0)  # fire, launch nothing
    try:
        report = scheduler.tick()
        fired = report.fired if report.leader else client.schedules.fire_due_events()
    finally:
        client.schedules.release_lease(LEASE, scheduler.holder)
    runs = [r for r in fired if r.pipeline == RETRAIN]
    if not runs:
        raise RuntimeError(f"the drift alert of {MONITOR} queued no run of {RETRAIN}")
    result = run_queued(runs[0].id, client=client, raise_on_failure=True)
    out = result.output
    ctx.step(f"retrained: {MODEL} v{result['register']['version']} canaried at {out['percent']:g}%")
    return result


def _canary(ctx: DemoContext, seed: int) -> Any:
    """Recession traffic with rewards, 100 requests at a time, until the canary is promoted. The
    server's controller evaluates the rollout every half second; the demo also asks after each
    batch (the same compare-and-set ``rollout.evaluate``), so it stops as soon as it is decided."""
    client = ctx.client
    frame = loan_features(applications(CANARY_TRAFFIC, seed + 12, recession=True))
    sent, prefix = Sent(), f"loan-{int(time.time())}-c"
    with serving(client, DEPLOYMENT) as url:
        for start in range(0, CANARY_TRAFFIC, CANARY_BATCH):
            send(url, DEPLOYMENT, frame.iloc[start : start + CANARY_BATCH], f"{prefix}{start}", True, into=sent)
            current = client.rollout.get_deployment(DEPLOYMENT)
            if current.status != "active" or current.spec.auto_promote is None:  # decided by the controller
                break
            if client.rollout.evaluate(DEPLOYMENT, current.revision).action != "none":
                break
    champion = client.get_model_version_by_alias(MODEL, "champion")
    ctx.step(f"canary: {sent.variants} -> champion v{champion.version}")
    return sent, champion


def play_loop(ctx: DemoContext) -> None:
    import optuna

    client = ctx.client
    use_experiment(client, EXPERIMENT, "The closed loop: drift alert -> retraining -> canary.", {"demo": "true"})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet = logging.getLogger("treadle")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    seed = len(td.datasets.versions(DATASET, client=client)) if _exists(client) else 0
    started = time.perf_counter()
    try:
        version = _data(ctx, seed)
        trained = _train(ctx)
        evaluation = _evaluate(ctx, loan_features(applications(500, seed + 5)))
        schedule = _wire(ctx, trained["tuned"])
        served = _traffic(ctx, seed)
        windows = _monitor(ctx)
        fresh = td.datasets.create(
            DATASET,
            loan_features(applications(ROWS, seed + 20, recession=True)),
            client=client,
            description="loan applications of the recession, labelled",
        )
        retrained = _retrain(ctx)
        sent, champion = _canary(ctx, seed)
    finally:
        quiet.setLevel(level)
    with td.start_run(name="closed-loop", tags={"demo": "true"}):
        td.log_params(
            {
                "dataset_versions": f"{version.version} -> {fresh.version}",
                "champion_before": trained["release"]["version"],
                "retrained_version": retrained["register"]["version"],
                "champion_after": champion.version,
                "schedule_id": schedule.id,
                "retrain_pipeline_run": retrained.id,
            }
        )
        td.log_metrics(
            {
                "champion_holdout_accuracy": evaluation.metrics["accuracy"],
                **served,
                "windows": float(len(windows)),
                "max_drift_share": max((w.drift_share or 0.0) for w in windows),
                "canary_requests": float(sent.variants.get("canary", 0)),
                "canary_traffic_accuracy": sent.correct / max(1, len(sent.ids)),
                "seconds": time.perf_counter() - started,
            }
        )
    ctx.shared["loop"] = {"retrained": retrained["register"]["version"], "champion": champion.version}


def _exists(client: Client) -> bool:
    try:
        td.datasets.get(DATASET, client=client)
    except NotFound:
        return False
    return True


LOOP = Scenario(EXPERIMENT, runs=8, play=play_loop)
