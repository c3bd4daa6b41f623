"""``mlflow.sklearn.autolog()`` in the unmodified mlflow 3.17.2 client against a live treadle server:
params, training metrics, estimator tags, MLflow 3 logged models (loadable and predicting in the
client), GridSearchCV child runs, and each metric's latest step and timestamp. The results are
then read back through treadle's own SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest

import treadle as td
from tests.mlflow_compat.conftest import MlflowServer, RunMlflow

pytestmark = pytest.mark.slow

AUTOLOG = r"""
import json, warnings
warnings.filterwarnings("ignore")
import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

exp = mlflow.set_experiment("autolog-sklearn")
mlflow.sklearn.autolog()
X, y = load_iris(return_X_y=True)
out = {"experiment_id": exp.experiment_id}

with mlflow.start_run(run_name="plain") as run:
    model = LogisticRegression(max_iter=300).fit(X, y)
    X_eval, y_eval = X[::3], y[::3]
    model.score(X_eval, y_eval)  # a post-training metric, logged to the run and to the logged model
out["plain"] = run.info.run_id
out["plain_model"] = mlflow.last_logged_model().model_id

with mlflow.start_run(run_name="search") as run:
    GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0, 10.0]}, cv=2).fit(X, y)
out["search"] = run.info.run_id
mlflow.sklearn.autolog(disable=True)

client = MlflowClient()
r = client.get_run(out["plain"])
out["params"] = r.data.params
out["metrics"] = r.data.metrics
out["tags"] = r.data.tags
out["outputs"] = [o.model_id for o in r.outputs.model_outputs]
out["inputs"] = [(d.dataset.name, d.dataset.source_type) for d in r.inputs.dataset_inputs]
out["artifacts"] = sorted(a.path for a in client.list_artifacts(out["plain"]))
out["model_files"] = sorted(a.path for a in client.list_artifacts(out["plain"], "model"))

lm = mlflow.get_logged_model(out["plain_model"])
out["logged_model"] = {
    "name": lm.name, "status": str(lm.status), "source_run_id": lm.source_run_id,
    "params": lm.params, "metrics": {m.key: m.value for m in lm.metrics},
    "metric_runs": sorted({m.run_id for m in lm.metrics}),
}
found = mlflow.search_logged_models(experiment_ids=[exp.experiment_id], output_format="list")
out["searched_models"] = sorted((m.name, m.source_run_id) for m in found)
ranked = mlflow.search_logged_models(
    experiment_ids=[exp.experiment_id],
    filter_string="metrics.training_accuracy_score > 0.5",
    order_by=[{"field_name": "metrics.training_accuracy_score", "ascending": False}],
    output_format="list",
)
out["ranked"] = [(m.name, m.source_run_id) for m in ranked]
picked = mlflow.search_logged_models(
    experiment_ids=[exp.experiment_id],
    filter_string="metrics.LogisticRegression_score_X_eval >= 0.5 AND params.C = '1.0' AND name = 'model'",
    output_format="list",
)
out["picked"] = [m.model_id for m in picked]
none = mlflow.search_logged_models(filter_string="metrics.training_accuracy_score > 2", output_format="list")
out["none"] = len(none)

expected = LogisticRegression(max_iter=300).fit(X, y).predict(X[:5]).tolist()
for uri in (f"models:/{out['plain_model']}", f"runs:/{out['plain']}/model"):
    assert mlflow.sklearn.load_model(uri).predict(X[:5]).tolist() == expected, uri
    assert mlflow.pyfunc.load_model(uri).predict(X[:5]).tolist() == expected, uri
best = next(m for m in found if m.name == "best_estimator")
out["best_predicts"] = mlflow.pyfunc.load_model(f"models:/{best.model_id}").predict(X[:5]).tolist()
out["expected"] = expected

s = client.get_run(out["search"])
out["search_params"] = s.data.params
out["search_metrics"] = sorted(s.data.metrics)
out["search_tags"] = {k: v for k, v in s.data.tags.items() if k.startswith("estimator_")}
out["search_artifacts"] = sorted(a.path for a in client.list_artifacts(out["search"]))
kids = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{out['search']}'")
out["children"] = sorted((k.info.run_id, k.data.params.get("C"), "mean_test_score" in k.data.metrics) for k in kids)
print("RESULT" + json.dumps(out))
"""

LATEST = r"""
import json
import mlflow
from mlflow import MlflowClient

mlflow.set_experiment("latest-metric")
client = MlflowClient()
with mlflow.start_run() as run:
    rid = run.info.run_id
    for step in range(5):
        client.log_metric(rid, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step * 10, step=step)
    client.log_metric(rid, "loss", 7.0, timestamp=1_700_000_000_999, step=2)  # late, but not the latest step
    client.log_metric(rid, "acc", 0.5, timestamp=1_700_000_000_001, step=3)
    client.log_metric(rid, "acc", 0.6, timestamp=1_700_000_000_002, step=3)  # same step, later: latest
    client.log_metric(rid, "once", 2.0, timestamp=1_700_000_000_500, step=42)
got = client.get_run(rid).data._metric_objs
out = {"latest": {m.key: [m.value, m.step, m.timestamp] for m in got}}
hist = client.get_metric_history(rid, "loss")
last = max(hist, key=lambda m: (m.step, m.timestamp))
out["history_last"] = [last.value, last.step, last.timestamp]
out["values"] = client.get_run(rid).data.metrics
found = mlflow.search_runs(experiment_names=["latest-metric"], output_format="list")
out["searched"] = {m.key: [m.value, m.step, m.timestamp] for m in found[0].data._metric_objs}
print("RESULT" + json.dumps(out))
"""


def _result(stdout: str) -> dict[str, Any]:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


TRAINING_METRICS = {
    "training_accuracy_score",
    "training_f1_score",
    "training_log_loss",
    "training_precision_score",
    "training_recall_score",
    "training_roc_auc",
    "training_score",
}


def test_sklearn_autolog(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _result(run_mlflow(AUTOLOG, timeout=600))
    plain, search, model_id = out["plain"], out["search"], out["plain_model"]

    # what the mlflow client saw
    assert out["params"]["C"] == "1.0" and out["params"]["max_iter"] == "300"
    assert out["metrics"].keys() >= TRAINING_METRICS
    assert "LogisticRegression_score_X_eval" in out["metrics"]
    assert out["tags"]["estimator_name"] == "LogisticRegression"
    assert out["tags"]["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert out["outputs"] == [model_id]
    assert out["inputs"] == [["dataset", "code"]]
    assert {"model", "estimator.html", "training_confusion_matrix.png"} <= set(out["artifacts"])
    assert {"model/MLmodel", "model/model.pkl"} <= set(out["model_files"])
    lm = out["logged_model"]
    assert lm["name"] == "model" and lm["status"] == "READY" and lm["source_run_id"] == plain
    assert lm["params"]["C"] == "1.0"
    assert lm["metrics"].keys() >= TRAINING_METRICS and "LogisticRegression_score_X_eval" in lm["metrics"]
    assert lm["metrics"]["training_accuracy_score"] == out["metrics"]["training_accuracy_score"]
    assert lm["metric_runs"] == [plain]
    assert sorted(out["searched_models"]) == sorted([["model", plain], ["model", search], ["best_estimator", search]])
    assert sorted(out["ranked"]) == sorted([["model", plain], ["model", search]])  # best_estimator has no metrics
    assert out["picked"] == [model_id] and out["none"] == 0
    assert out["best_predicts"] == out["expected"]
    assert out["search_params"]["best_C"] in {"0.1", "1.0", "10.0"} and out["search_params"]["cv"] == "2"
    assert "best_cv_score" in out["search_metrics"] and set(out["search_metrics"]) >= TRAINING_METRICS
    assert out["search_tags"] == {
        "estimator_name": "GridSearchCV",
        "estimator_class": "sklearn.model_selection._search.GridSearchCV",
    }
    assert {"best_estimator", "cv_results.csv", "model"} <= set(out["search_artifacts"])
    assert sorted((c, has) for _, c, has in out["children"]) == [("0.1", True), ("1.0", True), ("10.0", True)]

    # the same objects through treadle's own SDK
    client = td.Client(mlflow_server.url)
    tracking = client.tracking
    run = tracking.get_run(plain)
    assert run.experiment_id == out["experiment_id"] and run.status == "FINISHED"
    assert run.params["C"] == "1.0" and run.params["solver"] == "lbfgs"
    assert run.metrics.keys() >= TRAINING_METRICS
    assert run.tags["estimator_name"] == "LogisticRegression" and "mlflow.user" in run.tags
    files = {f.path for f in tracking.list_artifacts(plain)}
    assert {"model/MLmodel", "model/model.pkl", "model/requirements.txt"} <= files
    for child_id, _, _ in out["children"]:
        child = tracking.get_run(child_id)
        assert child.parent_id == search and child.status == "FINISHED" and "mean_test_score" in child.metrics
        assert child.tags["mlflow.autologging"] == "sklearn" and child.params["C"] in {"0.1", "1.0", "10.0"}
    assert tracking.get_run(search).params["best_C"] == out["search_params"]["best_C"]
    node = client.lineage.find_node(f"logged_model:{model_id}")
    assert node.type == "mlflow.LoggedModel" and node.uri == f"runs:/{plain}/model"
    made = client.lineage.downstream(client.lineage.find_node(f"run:{plain}").id, hops=1)
    assert node.id in {n.id for n in made.nodes}


def test_latest_metric_step_and_timestamp(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _result(run_mlflow(LATEST))
    assert out["latest"] == {
        "loss": [0.2, 4, 1_700_000_000_040],
        "acc": [0.6, 3, 1_700_000_000_002],
        "once": [2.0, 42, 1_700_000_000_500],
    }
    assert out["history_last"] == out["latest"]["loss"]
    assert out["searched"] == out["latest"]  # runs/search answers the same latest points
    assert out["values"] == {"loss": 0.2, "acc": 0.6, "once": 2.0}
