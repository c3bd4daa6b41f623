"""``td.evaluate`` end to end on SQLite: registry versions, dataset versions, slices, baseline, the
gate, the blessing tags, lineage, nesting, explanations and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import treadle as td
from tests.evaluation.conftest import make_frame
from treadle.client import Client
from treadle.errors import InvalidArgument, NotFound

FEATURES = ["a", "b"]


def register(frame: pd.DataFrame, name: str = "clf", shuffle: bool = False, alias: str | None = None) -> int:
    """Train a logistic regression on a, b (labels shuffled: a useless model) and register it."""
    y = frame["y"].sample(frac=1.0, random_state=0).to_numpy() if shuffle else frame["y"]
    model = LogisticRegression().fit(frame[FEATURES], y)
    with td.start_run(experiment="train"):
        uri = td.log_model(model, "model", input_example=frame[FEATURES].head(), requirements=["scikit-learn"])
    version = td.register_model(uri, name).version
    if alias:
        td.set_alias(name, alias, version)
    return int(version)


def test_registered_version_on_a_dataset_version_against_the_champion(client: Client, frame: pd.DataFrame) -> None:
    register(frame, shuffle=True, alias="champion")  # v1: the weak champion
    register(frame)  # v2: the candidate
    td.datasets.create("holdout", frame)
    result = td.evaluate(
        "models:/clf/2",
        "holdout@1",
        targets="y",
        slices=["region"],
        baseline="models:/clf@champion",
        thresholds={"accuracy": {"lower": 0.6, "min_change": 0.0}, "roc_auc": {"lower": 0.65, "slices": "all"}},
        explain=False,
    )
    native = LogisticRegression().fit(frame[FEATURES], frame["y"])
    assert result.metrics["accuracy"] == pytest.approx(float(np.mean(native.predict(frame[FEATURES]) == frame["y"])))
    assert result.model == "models:/clf/2" and result.baseline_model == "models:/clf/1"
    assert result.dataset == "datasets:/holdout/1" and result.rows == len(frame)
    assert sorted(result.slices) == ["region=apac", "region=eu", "region=us"]
    eu = result.slices["region=eu"]
    assert eu.rows == int((frame["region"] == "eu").sum()) and eu.gated and eu.baseline is not None
    assert result.slices["region=apac"].metrics["accuracy"] < eu.metrics["accuracy"]  # the noisy region
    cmp = result.comparison["overall"]["accuracy"]
    assert cmp["candidate"] > cmp["baseline"] and cmp["change"] == pytest.approx(cmp["candidate"] - cmp["baseline"])
    assert "region=eu" in result.comparison
    assert result.passed, result.blessing.reasons
    assert result.blessing.run_id == result.run_id
    assert {(c.slice, c.metric) for c in result.blessing.checks} >= {
        ("region=apac", "roc_auc"),
        ("overall", "accuracy"),
    }
    assert set(result.plots) >= {"roc", "pr", "confusion_matrix", "calibration", "metric_by_slice"}

    run = client.get_run(result.run_id)
    assert run.status == "FINISHED"
    assert run.tags["treadle.evaluation"] == "true" and run.tags["treadle.evaluation.model"] == "clf"
    assert run.tags["treadle.evaluation.version"] == "2" and run.tags["treadle.evaluation.blessed"] == "true"
    assert run.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert run.metrics["slice/region:eu/accuracy"] == pytest.approx(eu.metrics["accuracy"])
    assert run.metrics["baseline/accuracy"] == pytest.approx(cmp["baseline"])
    files = {f.path for f in client.list_artifacts(result.run_id)}
    assert {"evaluation/report.json", "evaluation/blessing.json", "evaluation/plots/roc.svg"} <= files
    report = json.loads(client.read_artifact(result.run_id, "evaluation/report.json"))
    assert report["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert report["slices"]["region=eu"]["rows"] == eu.rows

    version = client.get_model_version("clf", 2)
    assert version.tags["treadle.blessing"] == result.run_id and version.tags["treadle.blessed"] == "true"
    blessing = td.evaluation.blessing_of("models:/clf/2")
    assert blessing is not None and blessing["passed"] and blessing["run_id"] == result.run_id
    assert td.evaluation.blessing_of("models:/clf/1") is None  # never evaluated itself

    # lineage: the run read the registry's own node of v2 and the dataset version's node
    run_node = client.lineage.find_node(f"run:{result.run_id}")
    upstream = client.lineage.upstream(run_node.id, hops=1)
    external = {n.external_id for n in upstream.nodes}
    assert "datasets:/holdout/1" in external
    assert any(
        n.type == "treadle.ModelVersion" and (n.external_id or "").startswith("model_version:") for n in upstream.nodes
    )


def test_a_worse_candidate_fails_the_gate_and_its_version_says_so(client: Client, frame: pd.DataFrame) -> None:
    register(frame, alias="champion")
    register(frame, shuffle=True)  # v2 is worse
    result = td.evaluate(
        "models:/clf/2",
        frame,
        targets="y",
        baseline="models:/clf@champion",
        thresholds={"accuracy": {"min_change": -0.01}},
        explain=False,
    )
    assert not result.passed
    (check,) = result.blessing.checks
    assert check.kind == "min_change" and check.value is not None and check.value < -0.01
    assert client.get_model_version("clf", 2).tags["treadle.blessed"] == "false"
    assert client.get_run(result.run_id).tags["treadle.evaluation.blessed"] == "false"
    assert td.evaluation.blessing_of("models:/clf/2")["passed"] is False  # type: ignore[index]


def test_no_champion_yet_skips_the_change_thresholds(client: Client, frame: pd.DataFrame) -> None:
    register(frame, name="fresh")
    result = td.evaluate(
        "models:/fresh/1",
        frame,
        targets="y",
        baseline="models:/fresh@champion",
        thresholds={"accuracy": {"lower": 0.6, "min_change": 0.05}},
        explain=False,
    )
    assert result.passed and result.baseline is None and result.comparison == {}
    assert [c.kind for c in result.blessing.checks] == ["lower"]
    assert any("no baseline" in r for r in result.blessing.reasons)


def test_a_loaded_model_nests_under_the_active_run_and_explains(client: Client, frame: pd.DataFrame) -> None:
    model = LogisticRegression().fit(frame[FEATURES], frame["y"])
    with td.start_run(experiment="mine") as parent:
        result = td.evaluate(model, frame, targets="y", name="adhoc", slices=[("region",), {"big_a": "a > 1"}])
    run = client.get_run(result.run_id)
    assert run.parent_id == parent.id and run.experiment_id == parent.run.experiment_id
    assert run.tags["treadle.evaluation.model"] == "adhoc" and "treadle.evaluation.version" not in run.tags
    assert "big_a" in result.slices and result.slices["big_a"].rows == int((frame["a"] > 1).sum())
    explanations = result.explanations
    assert explanations is not None and explanations["method"] == "permutation"
    importance = explanations["importance"]
    assert set(importance) == {"a", "b"} and importance["a"]["mean"] > importance["b"]["mean"] > 0
    assert len(explanations["rows"]) == 5 and "prediction" in explanations["rows"][0]
    assert "evaluation/explanations.json" in {f.path for f in client.list_artifacts(result.run_id)}


@pytest.mark.slow  # importing shap takes seconds
def test_shap_explanations_for_a_linear_model(client: Client, frame: pd.DataFrame) -> None:
    pytest.importorskip("shap")
    model = LogisticRegression().fit(frame[FEATURES], frame["y"])
    result = td.evaluate(model, frame, targets="y", explain="shap", explain_rows=3)
    assert result.explanations is not None and result.explanations["explainer"] == "linear"
    assert len(result.explanations["rows"]) == 3


def test_regression_and_ranking(client: Client) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "segment": rng.choice(["a", "b"], 300)})
    frame["t"] = 3 * frame["x"] + rng.normal(size=300) * 0.1
    model = LinearRegression().fit(frame[["x"]], frame["t"])
    result = td.evaluate(
        model,
        frame,
        targets="t",
        task="regression",
        slices=["segment"],
        thresholds={"rmse": {"upper": 0.5}, "r2": {"lower": 0.95}},
    )
    assert result.passed and result.metrics["rmse"] < 0.2 and set(result.plots) >= {"residuals", "predicted_vs_actual"}

    class Scorer:  # any object with predict: a ranking model scoring documents
        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return x["signal"].to_numpy()

    docs = pd.DataFrame({"query": np.repeat(np.arange(20), 10), "signal": rng.normal(size=200)})
    docs["rel"] = (docs["signal"] > 0.5).astype(int) + (docs["signal"] > 1.5).astype(int)
    ranked = td.evaluate(Scorer(), docs, targets="rel", task="ranking", group="query", k=5, explain=False)
    assert ranked.metrics["ndcg@5"] == pytest.approx(1.0) and ranked.metrics["mrr"] > 0.5
    assert client.get_run(ranked.run_id).metrics["ndcg_at_5"] == pytest.approx(1.0)


def test_bad_input_says_what_to_fix(client: Client, frame: pd.DataFrame) -> None:
    model = LogisticRegression().fit(frame[FEATURES], frame["y"])
    with pytest.raises(InvalidArgument, match="targets column 'label'"):
        td.evaluate(model, frame, targets="label")
    with pytest.raises(InvalidArgument, match="task must be"):
        td.evaluate(model, frame, targets="y", task="clustering")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="needs group"):
        td.evaluate(model, frame, targets="y", task="ranking")
    with pytest.raises(InvalidArgument, match="data must be"):
        td.evaluate(model, [1, 2, 3], targets="y")
    with pytest.raises(InvalidArgument, match="slice columns"):
        td.evaluate(model, frame, targets="y", slices=["country"])
    with pytest.raises(InvalidArgument, match="input columns"):
        td.evaluate(model, frame.drop(columns=["b"]), targets="y")
    with pytest.raises(InvalidArgument, match="object with predict"):
        td.evaluate(42, frame, targets="y")
    with pytest.raises(NotFound):
        td.evaluate(model, "no-such-dataset@1", targets="y")
    with pytest.raises(NotFound):
        td.evaluate("models:/nothing/1", frame, targets="y")
    with pytest.raises(InvalidArgument, match="missing values"):  # not scored as wrong predictions
        td.evaluate(model, frame.assign(y=frame["y"].where(frame.index % 10 != 0)), targets="y")
    with pytest.raises(InvalidArgument, match="cannot be compared"):
        td.evaluate(model, frame.assign(y=frame["y"].astype(str)), targets="y")
    assert client.search_runs(filter="tags.`treadle.evaluation` = 'true'").runs == []  # nothing half-logged


def test_an_empty_slice_is_reported_not_fatal(client: Client, frame: pd.DataFrame) -> None:
    model = LogisticRegression().fit(frame[FEATURES], frame["y"])
    result = td.evaluate(model, frame, targets="y", slices=[{"none": "a > 100"}], explain=False)
    assert result.slices["none"].rows == 0 and result.slices["none"].metrics == {} and not result.slices["none"].gated


def test_a_shifted_frame_is_still_scored(client: Client) -> None:
    model = LogisticRegression().fit(make_frame()[FEATURES], make_frame()["y"])
    shifted = make_frame(seed=3, shift=1.5)
    result = td.evaluate(model, shifted, targets="y", explain=False)
    assert 0 < result.metrics["accuracy"] < 1 and result.metrics["roc_auc"] > 0.5


@pytest.mark.slow
def test_over_http(tmp_path, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from treadle.server import create_app
    from treadle.testing.server import serve

    app = create_app(uri=f"sqlite:///{tmp_path / 's.db'}", artifacts=str(tmp_path / "server-art"))
    with serve(app) as url:
        remote = td.set_uri(url)
        register(frame, alias="champion")
        td.datasets.create("holdout", frame)
        result = td.evaluate(
            "models:/clf/1",
            "holdout",
            targets="y",
            slices=["region"],
            baseline="models:/clf@champion",
            thresholds={"accuracy": {"lower": 0.6}},
            explain=False,
        )
        assert result.passed and result.comparison["overall"]["accuracy"]["change"] == 0.0
        assert remote.get_model_version("clf", 1).tags["treadle.blessed"] == "true"
        assert td.evaluation.blessing_of("models:/clf@champion")["run_id"] == result.run_id  # type: ignore[index]
        assert [r["run_id"] for r in td.evaluation.history("clf")] == [result.run_id]
