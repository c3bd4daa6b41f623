"""Built-in components called as plain functions (a Step outside a pipeline is its function),
against a real SQLite store: datasets, connectors, the registry, rollout deployments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

import treadle as td
from treadle.client import _fluent as fluent
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines.components import (
    GateFailed,
    ValidationFailed,
    build_estimator,
    deploy,
    evaluate,
    ingest,
    parse_dataset_ref,
    register,
    split,
    train,
    tune,
    validate,
)

RF = {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20, "random_state": 0}}
WEAK = {"class": "sklearn.dummy.DummyClassifier", "params": {"strategy": "most_frequent"}}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[td.Client]:
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'components.db'}", str(tmp_path / "artifacts"))
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()


def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


def test_dataset_references_and_connector_uris_are_told_apart(tmp_path: Path) -> None:
    assert parse_dataset_ref("iris") == ("iris", None)
    assert parse_dataset_ref("iris/3") == ("iris", 3)
    assert parse_dataset_ref("datasets:/iris@prod") == ("iris", "prod")
    assert parse_dataset_ref("s3://bucket/iris.csv") is None
    path = tmp_path / "iris.csv"
    path.write_text("a\n1\n")
    assert parse_dataset_ref(str(path)) is None
    with pytest.raises(InvalidArgument, match="bad dataset URI"):
        parse_dataset_ref("datasets:/iris/x/y")


def test_ingest_reads_a_dataset_version_a_file_and_a_sql_source(client: td.Client, tmp_path: Path) -> None:
    frame = iris()
    v1 = td.datasets.create("iris", frame)
    td.datasets.create("iris", frame.head(100))
    assert len(ingest("iris")) == 100  # the latest version
    pinned = ingest("iris", version=v1.version)
    pd.testing.assert_frame_equal(pinned, frame, check_dtype=False)
    assert list(ingest(f"datasets:/iris/{v1.version}", columns=["target"]).columns) == ["target"]
    with pytest.raises(InvalidArgument, match="names version"):
        ingest("iris/1", version=2)
    with pytest.raises(NotFound):
        ingest("no-such-dataset")

    csv = tmp_path / "rows.csv"
    frame.head(7).to_csv(csv, index=False)
    assert ingest(str(csv)).shape == (7, 5)
    with pytest.raises(InvalidArgument, match="no column"):
        ingest(str(csv), columns=["nope"])

    db = tmp_path / "src.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        frame.head(12).to_sql("flowers", conn, index=False)
    spec = {"kind": "sql", "url": f"sqlite:///{db}", "query": "SELECT * FROM flowers WHERE target = 0"}
    assert len(ingest(spec)) == 12
    assert ingest.reads_mutable  # never cached: a connector's data changes under the same arguments


def test_ingest_inside_a_run_records_the_dataset_as_input(client: td.Client) -> None:
    version = td.datasets.create("iris", iris())
    with td.start_run() as run:
        ingest("iris")
    node = client.lineage.find_node(f"run:{run.id}")
    upstream = {n.uri for n in client.lineage.upstream(node.id, hops=1).nodes}
    assert version.uri in upstream


def test_validate_passes_a_first_version_and_similar_data(client: td.Client) -> None:
    frame = iris()
    td.datasets.create("iris", frame)
    assert validate(frame, dataset="iris") is frame  # nothing before the first version
    td.datasets.create("iris", frame.sample(frac=0.9, random_state=1))
    out = validate(ingest("iris"), dataset="iris")  # v2 against v1: same distribution
    assert len(out) == 135


def test_validate_reports_drift_schema_breaks_and_nulls(client: td.Client) -> None:
    frame = iris()
    td.datasets.create("iris", frame)
    shifted = frame.assign(**{"petal length (cm)": frame["petal length (cm)"] + 5.0})
    td.datasets.create("iris", shifted)
    with pytest.raises(ValidationFailed) as info:
        validate(ingest("iris"), dataset="iris")
    message = str(info.value)
    assert "datasets:/iris/2" in message and "datasets:/iris/1" in message
    assert "drift: column 'petal length (cm)'" in message and "standard deviations" in message
    assert info.value.report["passed"] is False and info.value.report["mean_shift"]["petal length (cm)"] > 2
    assert "sepal width (cm)" not in " ".join(info.value.report["drift"])

    broken = frame.drop(columns=["sepal width (cm)"]).assign(target=frame["target"].astype(str))
    broken.loc[:40, "sepal length (cm)"] = np.nan
    with pytest.raises(ValidationFailed) as info:
        validate(broken, dataset="iris", baseline=1)
    report = info.value.report
    assert any("'sepal width (cm)'" in m and "missing" in m for m in report["schema"])
    assert any("'target' changed type from int64 to" in m for m in report["schema"])
    assert any("'sepal length (cm)': null fraction" in m for m in report["quality"])
    # a wider threshold lets the shifted version through; strict refuses a new column
    assert len(validate(shifted, dataset="iris", baseline=1, max_mean_shift=10.0)) == 150
    with pytest.raises(ValidationFailed, match=r"'extra'.*is new"):
        validate(frame.assign(extra=1), dataset="iris", baseline=1, strict=True)


def test_split_is_seeded_and_stratified() -> None:
    frame = iris()
    train_df, test_df = split(frame, test_size=0.2, stratify="target", seed=3)
    assert len(train_df) == 120 and len(test_df) == 30
    assert test_df["target"].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    again, _ = split(frame, test_size=0.2, stratify="target", seed=3)
    pd.testing.assert_frame_equal(train_df, again)
    other, _ = split(frame, test_size=0.2, stratify="target", seed=4)
    assert not train_df.equals(other)
    assert split.outputs == ["train", "test"]
    with pytest.raises(InvalidArgument, match="stratify column 'label'"):
        split(frame, stratify="label")
    with pytest.raises(InvalidArgument, match="test_size"):
        split(frame, test_size=0)


def test_train_builds_estimators_from_config_only_from_allowed_libraries() -> None:
    frame = iris()
    model = train(frame, "target", estimator=RF)
    assert type(model).__name__ == "RandomForestClassifier" and model.n_estimators == 20
    assert (model.predict(frame.drop(columns="target")) == frame["target"]).mean() > 0.95
    subset = train(frame, "target", estimator=RF, features=["petal length (cm)"])
    assert subset.n_features_in_ == 1
    booster = train(
        frame, "target", estimator={"class": "lightgbm.LGBMClassifier", "params": {"n_estimators": 5, "verbose": -1}}
    )
    assert booster.n_estimators == 5
    with pytest.raises(InvalidArgument, match="full dotted path of a class from sklearn, xgboost, lightgbm"):
        build_estimator({"class": "os.system"})
    with pytest.raises(InvalidArgument, match="has no RandomForest"):
        build_estimator({"class": "sklearn.ensemble.RandomForest"})
    with pytest.raises(InvalidArgument, match="unexpected keyword"):
        build_estimator({"class": "sklearn.linear_model.LogisticRegression", "params": {"depth": 3}})
    with pytest.raises(InvalidArgument, match="target column 'label'"):
        train(frame, "label", estimator=RF)


def test_evaluate_gates_against_the_champion(client: td.Client) -> None:
    frame = iris()
    train_df, test_df = split(frame, stratify="target", seed=0)
    weak = train(train_df, "target", estimator=WEAK)
    strong = train(train_df, "target", estimator=RF)

    first = evaluate(weak, test_df, "target", model_name="flowers")
    assert first["passed"] and first["reason"] == "no champion yet" and first["champion"] is None
    assert first["metric"] == "accuracy" and first["candidate"] == pytest.approx(1 / 3, abs=0.02)
    released = register(weak, "flowers", report=first, example=test_df, target="target")
    assert released["registered"] and released["version"] == 1
    assert client.get_model_version_by_alias("flowers", "champion").version == 1

    better = evaluate(strong, test_df, "target", model_name="flowers", min_delta=0.1)
    assert better["passed"] and better["champion_version"] == 1
    assert better["champion"] == pytest.approx(first["candidate"]) and better["candidate"] > 0.9
    assert {"accuracy", "f1", "roc_auc", "log_loss"} <= set(better["metrics"])

    worse = evaluate(weak, test_df, "target", model_name="flowers", min_delta=0.0)  # ties do pass at delta 0
    assert worse["passed"]
    worse = evaluate(weak, test_df, "target", model_name="flowers", min_delta=0.01)
    assert not worse["passed"] and "does not beat the champion (flowers v1" in worse["reason"]
    skipped = register(weak, "flowers", report=worse)
    assert skipped == {**skipped, "registered": False, "version": None} and "not registered" in skipped["reason"]
    assert client.registry.get_model("flowers").latest_version == 1
    with pytest.raises(GateFailed, match="not better"):
        evaluate(weak, test_df, "target", model_name="flowers", min_delta=0.01, require_pass=True)
    low = evaluate(strong, test_df, "target", threshold=0.999)
    assert not low["passed"] and "threshold 0.999" in low["reason"]
    with pytest.raises(InvalidArgument, match="unknown metric"):
        evaluate(strong, test_df, "target", metric="auc")


def test_evaluate_regression_metrics_lower_is_better(client: td.Client) -> None:
    frame = load_diabetes(as_frame=True).frame
    train_df, test_df = split(frame, seed=0)
    model = train(train_df, "target", estimator={"class": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}})
    report = evaluate(model, test_df, "target", threshold=80.0)
    assert report["metric"] == "rmse" and not report["higher_is_better"]
    assert set(report["metrics"]) == {"rmse", "mae", "r2"} and report["passed"] == (report["candidate"] <= 80.0)


def test_register_inside_a_run_and_deploy_to_a_canary(client: td.Client) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    train_df, test_df = split(frame, seed=0)
    model = train(
        train_df, "target", estimator={"class": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}}
    )
    with td.start_run() as run:
        first = register(model, "cancer", example=test_df, target="target")
    version = client.get_model_version("cancer", 1)
    assert version.run_id == run.id and first["uri"] == "models:/cancer/1"
    loaded = client.load_model("models:/cancer@champion")
    assert "target" not in loaded.input_example.columns and len(loaded.predict(test_df.drop(columns="target"))) == len(
        test_df
    )

    td.deployments.apply(
        {
            "name": "cancer-canary",
            "model": "cancer",
            "routes": [
                {"name": "champion", "model": "models:/cancer@champion", "weight": 90},
                {"name": "canary", "model": "models:/cancer/1", "weight": 10},
            ],
        }
    )
    second = register(model, "cancer", alias="challenger")
    out = deploy(second, deployment="cancer-canary", weight=25)
    assert out["deployed"] and out["variant"] == "canary" and out["revision"] == 2
    routes = {v.name: v for v in td.deployments.get("cancer-canary").spec.routes or []}
    assert routes["canary"].model == "models:/cancer/2" and routes["canary"].weight == 25
    assert routes["champion"].model == "models:/cancer@champion"  # the control is left alone

    moved = deploy(second, alias="champion")
    assert moved["deployed"] and client.get_model_version_by_alias("cancer", "champion").version == 2
    nothing = deploy({"registered": False, "reason": "not registered: worse"}, deployment="cancer-canary")
    assert not nothing["deployed"] and nothing["reason"] == "not registered: worse"
    assert td.deployments.get("cancer-canary").revision == 2
    with pytest.raises(InvalidArgument, match="no variant 'shadow'"):
        deploy(second, deployment="cancer-canary", variant="shadow")
    with pytest.raises(InvalidArgument, match="a deployment to update, an alias to move"):
        deploy(second)


def test_tune_returns_the_best_config_and_train_takes_it(client: td.Client) -> None:
    frame = iris()
    space = {"max_depth": {"low": 1, "high": 4}, "criterion": {"choices": ["gini", "entropy"]}}
    tree = {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}}
    best = tune(frame, "target", estimator=tree, space=space, n_trials=6, cv=3, seed=0, study_name="iris-tree")
    assert best["class"] == tree["class"] and best["params"]["random_state"] == 0
    assert 1 <= best["params"]["max_depth"] <= 4 and best["params"]["criterion"] in ("gini", "entropy")
    assert best["tuned"]["study"] == "iris-tree" and best["tuned"]["n_trials"] == 6
    assert best["tuned"]["metric"] == "accuracy" and best["tuned"]["best_value"] > 0.9
    study = client.tuning.get_study("iris-tree")
    assert study.n_complete == 6 and study.best_value == pytest.approx(best["tuned"]["best_value"])
    model = train(frame, "target", estimator=best)
    assert model.max_depth == best["params"]["max_depth"]
    error = tune(
        frame,
        "target",
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": {"low": 0.1, "high": 10.0, "log": True}},
        n_trials=3,
        metric="rmse",
        seed=0,
    )
    assert error["tuned"]["metric"] == "rmse" and 0 < error["tuned"]["best_value"] < 1  # a positive error, not negated


def test_reports_are_saved_in_the_step_run(client: td.Client) -> None:
    frame = iris()
    train_df, test_df = split(frame, seed=0)
    model = train(train_df, "target", estimator=RF)
    with td.start_run() as run:
        evaluate(model, test_df, "target")
    saved = json.loads(client.read_artifact(run.id, "evaluation.json"))
    assert saved["passed"] and saved["metric"] == "accuracy"
    assert client.get_run(run.id).metrics["test_accuracy"] == pytest.approx(saved["candidate"])
