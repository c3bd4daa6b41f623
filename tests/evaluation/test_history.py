"""A model's evaluation history across three registered versions and continuous-training pipeline
runs (``evaluate_model`` -> ``register`` -> ``deploy(require_blessing=True)``), and ``compare``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import treadle as td
from tests.evaluation.conftest import make_frame
from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.pipelines import pipeline, step
from treadle.pipelines.components import deploy, evaluate_model, register

FEATURES = ["a", "b"]


def _version(frame: pd.DataFrame, c: float) -> int:
    model = LogisticRegression(C=c).fit(frame[FEATURES].assign(b=frame["b"] * (c > 0.001)), frame["y"])
    with td.start_run(experiment="train"):
        uri = td.log_model(model, "model", input_example=frame[FEATURES].head(), requirements=["scikit-learn"])
    return int(td.register_model(uri, "clf").version)


def test_history_across_versions_and_compare(client: Client, frame: pd.DataFrame) -> None:
    runs = []
    for c in (0.0001, 0.01, 1.0):  # three versions: stronger regularisation -> worse log loss
        version = _version(frame, c)
        runs.append(td.evaluate(f"models:/clf/{version}", frame, targets="y", explain=False).run_id)
    td.evaluate(LogisticRegression().fit(frame[FEATURES], frame["y"]), frame, targets="y", name="other", explain=False)
    rows = td.evaluation.history("clf")
    assert [r["version"] for r in rows] == [1, 2, 3] and [r["run_id"] for r in rows] == runs
    assert all(r["blessed"] and r["pipeline_run"] is None for r in rows)
    assert set(rows[0]["metrics"]) >= {"accuracy", "roc_auc", "log_loss"}
    only = td.evaluation.history("clf", metric="log_loss")
    assert [set(r["metrics"]) for r in only] == [{"log_loss"}] * 3
    assert only[0]["metrics"]["log_loss"] > only[2]["metrics"]["log_loss"]
    assert td.evaluation.history("clf", metric="nope") == []
    assert [r["model"] for r in td.evaluation.history("other")] == ["other"]

    side = td.evaluation.compare(runs)
    assert [r["version"] for r in side["runs"]] == [1, 2, 3]
    assert side["metrics"]["log_loss"] == [r["metrics"]["log_loss"] for r in only]
    assert side["best"]["log_loss"] == runs[2]  # lower is better
    assert side["runs"][0]["slices"] == {}
    with pytest.raises(InvalidArgument, match="2 to 5"):
        td.evaluation.compare(runs[:1])
    with td.start_run() as plain:
        pass
    with pytest.raises(InvalidArgument, match="not an evaluation run"):
        td.evaluation.compare([runs[0], plain.id])


def test_deploy_requires_a_passing_blessing(client: Client, frame: pd.DataFrame) -> None:
    version = _version(frame, 1.0)
    release = {"registered": True, "name": "clf", "version": version}
    unblessed = deploy(release, alias="production", require_blessing=True)
    assert not unblessed["deployed"] and "no blessing" in unblessed["reason"]
    td.evaluate(f"models:/clf/{version}", frame, targets="y", thresholds={"accuracy": {"lower": 0.99}}, explain=False)
    failed = deploy(release, alias="production", require_blessing=True)
    assert not failed["deployed"] and "failed its gate" in failed["reason"]
    td.evaluate(f"models:/clf/{version}", frame, targets="y", thresholds={"accuracy": {"lower": 0.6}}, explain=False)
    passed = deploy(release, alias="production", require_blessing=True)
    assert passed["deployed"] and client.get_model_version_by_alias("clf", "production").version == version


@step
def load(seed: int = 0) -> pd.DataFrame:
    return make_frame(seed=seed)


@step
def fit(data: pd.DataFrame, shuffle: bool = False) -> Any:
    y = data["y"].sample(frac=1.0, random_state=1).to_numpy() if shuffle else data["y"]
    return LogisticRegression().fit(data[FEATURES], y)


@pipeline(name="continuous")
def continuous(shuffle: bool = False) -> Any:
    data = load()
    model = fit(data, shuffle=shuffle)
    report = evaluate_model(
        model,
        data,
        "y",
        model_name="clf",
        slices=["region"],
        features=FEATURES,
        thresholds={"accuracy": {"lower": 0.6, "min_change": -0.01}},
    )
    release = register(model, "clf", report=report, alias=None, example=data, features=FEATURES, force=True)
    return deploy(release, alias="champion", require_blessing=True)


@pytest.mark.slow
def test_pipeline_runs_evaluate_register_and_deploy_only_blessed_versions(client: Client) -> None:
    first = continuous.run()
    assert first.status == "SUCCEEDED", first.error
    report = first["evaluate_model"]
    assert report["passed"] and report["champion"] is None and report["run_id"]
    assert any("no baseline" in r for r in [report["reason"]])
    assert set(report["slices"]) == {"region=apac", "region=eu", "region=us"}
    assert first.output["deployed"]  # blessed: v1 becomes the champion
    assert td.evaluation.blessing_of("models:/clf/1")["run_id"] == report["run_id"]  # type: ignore[index]

    worse = continuous.run(shuffle=True)  # registered anyway (force) but never deployed: not blessed
    assert not worse["evaluate_model"]["passed"] and worse["evaluate_model"]["champion_version"] == 1
    assert worse["register"]["version"] == 2 and not worse.output["deployed"]
    assert "failed its gate" in worse.output["reason"]
    assert client.get_model_version_by_alias("clf", "champion").version == 1

    rows = td.evaluation.history("clf")
    assert [r["pipeline_run"] for r in rows] == [first.id, worse.id]
    assert [r["blessed"] for r in rows] == [True, False]
    eval_run = client.get_run(rows[0]["run_id"])
    step_run = client.get_run(eval_run.parent_id or "")
    assert step_run.tags["treadle.pipeline.step"] == "evaluate_model"
