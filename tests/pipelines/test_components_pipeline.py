"""The built-in components composed into a real training pipeline, run by the engine on SQLite:
the gate passing (a first model, then a better one) and failing (a worse one, a drifted dataset)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris

import treadle as td
from treadle.client import _fluent as fluent
from treadle.pipelines import PipelineFailed, pipeline
from treadle.pipelines.components import deploy, evaluate, ingest, register, split, train, tune, validate

FOREST = {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20, "random_state": 0}}
DUMMY = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "most_frequent"}}


@pipeline(name="iris-retrain")
def retrain(
    dataset: str = "iris", model_name: str = "iris-clf", estimator: dict = FOREST, min_delta: float = 0.0
) -> Any:
    data = validate(ingest(dataset), dataset=dataset)
    train_df, test_df = split(data, test_size=0.3, stratify="target", seed=0)
    model = train(train_df, "target", estimator=estimator)
    report = evaluate(model, test_df, "target", model_name=model_name, min_delta=min_delta)
    release = register(model, model_name, report=report, example=test_df, target="target")
    return deploy(release, deployment="iris-live")


@pipeline(name="iris-tuned")
def tuned(dataset: str = "iris") -> Any:
    train_df, test_df = split(ingest(dataset), test_size=0.3, stratify="target", seed=0)
    space = {"max_depth": {"low": 1, "high": 5}}
    best = tune(train_df, "target", estimator={"class": "sklearn.tree.DecisionTreeClassifier"}, space=space, n_trials=4)
    model = train(train_df, "target", estimator=best)
    return evaluate(model, test_df, "target", require_pass=True, threshold=0.99)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[td.Client]:
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'flow.db'}", str(tmp_path / "artifacts"))
    td.datasets.create("iris", load_iris(as_frame=True).frame)
    td.deployments.apply(
        {
            "name": "iris-live",
            "model": "iris-clf",
            "routes": [
                {"name": "champion", "model": "models:/iris-clf@champion", "weight": 90},
                {"name": "canary", "model": "models:/iris-clf@champion", "weight": 10},
            ],
        }
    )
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()


def test_the_spec_is_the_static_dag_of_the_components() -> None:
    spec = retrain.spec
    assert [s.name for s in spec.steps] == ["ingest", "validate", "split", "train", "evaluate", "register", "deploy"]
    steps = {s.name: s for s in spec.steps}
    assert steps["ingest"].reads_mutable and steps["split"].outputs == ["train", "test"]
    assert steps["evaluate"].inputs["test"].step == "split" and steps["evaluate"].inputs["test"].output == "test"
    assert steps["register"].inputs["report"].step == "evaluate"


def test_gate_passes_then_holds_back_a_worse_model(client: td.Client) -> None:
    first = retrain.run(estimator=DUMMY)  # no champion yet: any model passes
    assert first.status == "SUCCEEDED" and set(s.status for s in first.steps.values()) == {"SUCCEEDED"}
    assert first["register"]["version"] == 1 and first.output["deployed"] and first.output["revision"] == 2
    report = first["evaluate"]
    assert report["passed"] and report["reason"] == "no champion yet"

    better = retrain.run(min_delta=0.2)  # the forest beats the dummy by far more than 0.2
    assert better["evaluate"]["passed"] and better["evaluate"]["champion_version"] == 1
    assert better["register"]["version"] == 2
    assert client.get_model_version_by_alias("iris-clf", "champion").version == 2
    canary = {v.name: v.model for v in td.deployments.get("iris-live").spec.routes or []}["canary"]
    assert canary == "models:/iris-clf/2"
    # each step ran as a tracked run nested under the pipeline run, with its reports saved there
    evaluate_run = client.get_run(better.steps["evaluate"].run_id)
    assert evaluate_run.parent_id == better.run_id and evaluate_run.metrics["test_accuracy"] > 0.9
    assert "evaluation.json" in {f.path for f in client.list_artifacts(evaluate_run.id)}
    model_version = client.get_model_version("iris-clf", 2)
    assert model_version.run_id == better.steps["register"].run_id

    worse = retrain.run(estimator=DUMMY)  # the gate fails: nothing registered, nothing deployed, run succeeds
    assert worse.status == "SUCCEEDED"
    assert not worse["evaluate"]["passed"] and "does not beat the champion (iris-clf v2" in worse["evaluate"]["reason"]
    assert worse["register"]["registered"] is False and worse.output["deployed"] is False
    assert client.registry.get_model("iris-clf").latest_version == 2
    assert client.get_model_version_by_alias("iris-clf", "champion").version == 2
    assert td.deployments.get("iris-live").revision == 3
    # ingest always ran; split's outputs are the same table as before, so split was cached
    assert worse.steps["ingest"].status == "SUCCEEDED" and worse.steps["split"].status == "CACHED"


def test_drifted_data_stops_the_pipeline_before_training(client: td.Client) -> None:
    retrain.run()
    frame = load_iris(as_frame=True).frame
    td.datasets.create("iris", frame.assign(**{"petal width (cm)": frame["petal width (cm)"] * 4}))
    result = retrain.run(raise_on_failure=False)
    assert result.status == "FAILED"
    assert result.steps["validate"].status == "FAILED"
    assert "drift: column 'petal width (cm)'" in (result.steps["validate"].error or "")
    assert {result.steps[s].status for s in ("split", "train", "evaluate", "register", "deploy")} == {"SKIPPED"}
    assert client.registry.get_model("iris-clf").latest_version == 1
    with pytest.raises(PipelineFailed, match="validate"):
        retrain.run()


def test_tune_inside_a_pipeline_and_a_gate_that_must_pass(client: td.Client) -> None:
    result = tuned.run(raise_on_failure=False)
    best = result["tune"]
    assert best["tuned"]["n_trials"] == 4 and 1 <= best["params"]["max_depth"] <= 5
    study = client.tuning.get_study(best["tuned"]["study"])
    assert study.n_complete == 4 and study.run_id is not None
    assert client.get_run(study.run_id).experiment_id == client.get_run(result.run_id).experiment_id
    assert result.steps["train"].status == "SUCCEEDED"
    # accuracy 0.99 on the iris test split is out of a tree's reach: require_pass fails the step
    assert result.status == "FAILED" and result.steps["evaluate"].status == "FAILED"
    assert "not better" in (result.steps["evaluate"].error or "") and "threshold 0.99" in (
        result.steps["evaluate"].error or ""
    )
    assert isinstance(result["train"].max_depth, int)
    assert isinstance(result["split"][0], pd.DataFrame)


def test_the_study_of_a_tune_step_nests_under_the_step_run(client: td.Client) -> None:
    result = tuned.run(raise_on_failure=False)
    study = client.tuning.get_study(result["tune"]["tuned"]["study"])
    assert study.run_id is not None
    assert client.get_run(study.run_id).parent_id == result.steps["tune"].run_id


@pytest.mark.slow
def test_components_run_the_same_in_child_processes(client: td.Client) -> None:
    result = retrain.run(executor="process")  # each step in its own child process
    assert result.status == "SUCCEEDED" and {s.executor for s in result.steps.values()} == {"process"}
    assert result["register"]["version"] == 1 and result.output["model"] == "models:/iris-clf/1"
    assert result["evaluate"]["candidate"] > 0.9
    assert client.get_model_version_by_alias("iris-clf", "champion").run_id == result.steps["register"].run_id
