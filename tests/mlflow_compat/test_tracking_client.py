"""The unmodified mlflow 3.17.2 client runs a tracking flow against a live treadle server;
the results are then read back through treadle's own SDK (same store, native records)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import treadle as td
from tests.mlflow_compat.conftest import MlflowServer, RunMlflow

pytestmark = pytest.mark.slow

FLOW = r"""
import json, os, tempfile
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

exp = mlflow.set_experiment("mlflow-compat")
out = {"experiment_id": exp.experiment_id, "artifact_location": exp.artifact_location}
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_param("lr", "0.01")
    mlflow.log_params({"layers": 3, "act": "relu"})
    mlflow.set_tag("team", "vision")
    mlflow.set_tags({"stage": "dev", "owner": "ann"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=4)
    for step in range(5, 10):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=False)
    mlflow.log_metrics({"async_m": 2.0}, step=1, synchronous=False)
    mlflow.flush_async_logging()
    try:
        mlflow.log_param("lr", "0.5")
    except MlflowException as e:
        out["param_conflict"] = e.error_code
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("hello treadle")
    os.makedirs(os.path.join(d, "sub"))
    with open(os.path.join(d, "sub", "a.csv"), "w") as f:
        f.write("x,y\n1,2\n")
    mlflow.log_artifact(os.path.join(d, "notes.txt"))
    mlflow.log_artifacts(d, artifact_path="bundle")
    mlflow.log_dict({"k": [1, 2]}, "config/params.json")
    import pandas as pd
    ds = mlflow.data.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), source="file:///data/tiny.csv", name="tiny")
    mlflow.log_input(ds, context="training")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("child_m", 7.0)
    out["parent"], out["child"] = parent.info.run_id, child.info.run_id
    out["artifact_uri"] = parent.info.artifact_uri

with mlflow.start_run(run_name="doomed") as doomed:
    mlflow.log_metric("loss", 9.0)
mlflow.delete_run(doomed.info.run_id)
out["doomed"] = doomed.info.run_id

client = MlflowClient()
hist = client.get_metric_history(out["parent"], "loss")
out["history"] = [[m.step, m.value] for m in sorted(hist, key=lambda m: m.step)]
out["top"] = sorted(a.path for a in client.list_artifacts(out["parent"]))
out["bundle"] = sorted((a.path, a.is_dir) for a in client.list_artifacts(out["parent"], "bundle"))
local = client.download_artifacts(out["parent"], "bundle")
out["downloaded"] = sorted(
    os.path.relpath(os.path.join(r, f), local) for r, _, fs in os.walk(local) for f in fs
)
with open(mlflow.artifacts.download_artifacts(run_id=out["parent"], artifact_path="config/params.json")) as f:
    out["dict"] = json.load(f)

df = mlflow.search_runs(experiment_ids=[exp.experiment_id], filter_string="metrics.acc > 0.5 and params.lr = '0.01'")
out["search"] = sorted(df["run_id"].tolist())
df = mlflow.search_runs(experiment_names=["mlflow-compat"], order_by=["attributes.start_time ASC"])
out["all"] = df["run_id"].tolist()
df = mlflow.search_runs(filter_string="tags.mlflow.runName = 'child'", search_all_experiments=True)
out["by_name"] = df["run_id"].tolist()
runs = client.search_runs([exp.experiment_id], max_results=1)
out["page1"] = [r.info.run_id for r in runs]
out["page2"] = [r.info.run_id for r in client.search_runs([exp.experiment_id], max_results=1, page_token=runs.token)]
got = mlflow.get_experiment_by_name("mlflow-compat")
out["by_name_exp"] = got.experiment_id
out["missing_exp"] = mlflow.get_experiment_by_name("nope")
r = client.get_run(out["parent"])
out["run"] = {"status": r.info.status, "name": r.info.run_name, "params": r.data.params, "metrics": r.data.metrics}
out["inputs"] = [(d.dataset.name, json.loads(d.dataset.source)["uri"]) for d in r.inputs.dataset_inputs]
print("RESULT" + json.dumps(out))
"""


def _result(stdout: str) -> dict[str, Any]:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_mlflow_tracking_flow(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _result(run_mlflow(FLOW))
    parent, child = out["parent"], out["child"]

    # what the mlflow client saw
    assert out["param_conflict"] == "INVALID_PARAMETER_VALUE"
    assert out["artifact_uri"] == f"mlflow-artifacts:/{out['experiment_id']}/{parent}/artifacts"
    assert out["history"] == [[s, 1.0 / (s + 1)] for s in range(10)]
    assert out["top"] == ["bundle", "config", "notes.txt"]
    assert out["bundle"] == [["bundle/notes.txt", False], ["bundle/sub", True]]
    assert out["downloaded"] == ["notes.txt", "sub/a.csv"]
    assert out["dict"] == {"k": [1, 2]}
    assert out["search"] == [parent]
    assert set(out["all"]) == {parent, child} and out["doomed"] not in out["all"]
    assert out["by_name"] == [child]
    assert len(out["page1"]) == len(out["page2"]) == 1 and out["page1"] != out["page2"]
    assert out["by_name_exp"] == out["experiment_id"] and out["missing_exp"] is None
    assert out["run"]["status"] == "FINISHED" and out["run"]["name"] == "parent"
    assert out["run"]["params"] == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert out["inputs"] == [["tiny", "file:///data/tiny.csv"]]

    # the same objects through treadle's own SDK
    client = td.Client(mlflow_server.url)
    tracking = client.tracking
    exp = tracking.get_experiment_by_name("mlflow-compat")
    assert exp.id == out["experiment_id"]
    run = tracking.get_run(parent)
    assert run.name == "parent" and run.status == "FINISHED" and run.end_time is not None
    assert run.params == {"lr": "0.01", "layers": "3", "act": "relu"}
    assert run.metrics["acc"] == 0.9 and run.metrics["loss"] == 0.1 and run.metrics["async_m"] == 2.0
    assert {"team": "vision", "stage": "dev", "owner": "ann"}.items() <= run.tags.items()
    assert run.tags["mlflow.runName"] == "parent" and "mlflow.user" in run.tags
    series = tracking.get_metric_history(parent, "loss")
    assert series.steps == list(range(10)) and series.values[0] == 1.0
    kid = tracking.get_run(child)
    assert kid.parent_id == parent and kid.name == "child" and kid.metrics == {"child_m": 7.0}
    files = {f.path: f.size for f in tracking.list_artifacts(parent)}
    assert files.keys() == {"notes.txt", "bundle/notes.txt", "bundle/sub/a.csv", "config/params.json"}
    assert files["notes.txt"] == len("hello treadle")
    assert tracking.get_run(out["doomed"]).lifecycle == "deleted"
    lineage = client.lineage
    upstream = lineage.upstream(lineage.find_node(f"run:{parent}").id, hops=1)
    assert "file:///data/tiny.csv" in {n.uri for n in upstream.nodes}
