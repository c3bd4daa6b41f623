"""``treadle import mlflow``: the real mlflow client writes an MLflow store of its own (SQLite + file
artifacts), treadle imports it, treadle's SDK sees everything; a second import brings only what is new."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from treadle.cli._app import app
from treadle.cli._mlflow_import import tracking_uri
from treadle.client import Client

WRITE = """
import json, os, sys, warnings
warnings.filterwarnings("ignore")
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

root = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
client = MlflowClient()
out = {}
if sys.argv[2] == "first":
    client.create_experiment("churn", artifact_location=f"file://{root}/mlartifacts/churn",
                             tags={"team": "growth"})
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="sweep") as parent:
        mlflow.log_params({"lr": "0.1", "depth": "3"})
        mlflow.set_tag("stage", "dev")
        for step in range(40):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("loss", 0.01, step=39)  # two points at one step: both kept
        mlflow.log_dict({"features": ["a", "b"]}, "config/features.json")
        blob = os.path.join(root, "weights.bin")
        with open(blob, "wb") as fh:
            fh.write(os.urandom(5000))
        mlflow.log_artifact(blob, "raw")
        with mlflow.start_run(run_name="trial-1", nested=True) as child:
            mlflow.log_param("c", "1.0")
            mlflow.log_metrics({"acc": 0.7, "f1": 0.6}, step=0)
            mlflow.log_metrics({"acc": 0.8, "f1": 0.75}, step=1)
        X = np.random.RandomState(0).rand(40, 3)
        y = (X[:, 0] > 0.5).astype(int)
        for c in (1.0, 0.1):
            model = LogisticRegression(C=c).fit(X, y)
            mlflow.sklearn.log_model(model, name="model", registered_model_name="churn-clf",
                                     input_example=X[:2])
    client.set_registered_model_alias("churn-clf", "champion", "2")
    client.set_model_version_tag("churn-clf", "1", "validated", "yes")
    out = {"parent": parent.info.run_id, "child": child.info.run_id}
else:
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="late") as late:
        mlflow.log_metric("loss", 0.5, step=0)
    out = {"late": late.info.run_id}
for rid in list(out.values()):
    run = client.get_run(rid)
    out[rid] = {k: sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, k))
                for k in run.data.metrics}
print("RESULT " + json.dumps(out))
"""


def _write(python: Path, root: Path, phase: str) -> dict:
    script = root / "write_mlflow.py"
    script.write_text(textwrap.dedent(WRITE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TREADLE_", "PYTHONPATH"))}
    env["GIT_PYTHON_REFRESH"] = "quiet"
    done = subprocess.run(
        [str(python), str(script), str(root), phase],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _import(root: Path, uri: str, artifacts: str, python: Path) -> str:
    result = CliRunner().invoke(
        app,
        [
            "--uri",
            uri,
            "--artifacts",
            artifacts,
            "import",
            "mlflow",
            "--from",
            f"sqlite:///{root}/mlflow.db",
            "--mlflow-python",
            str(python),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _count(output: str, what: str) -> int:
    line = next((x for x in output.splitlines() if what in x), None)
    return 0 if line is None else int(line.strip(" │|").split()[-1])


@pytest.mark.slow
def test_import_from_an_mlflow_store(mlflow_python: Path, tmp_path: Path) -> None:
    src = tmp_path / "mlflow"
    src.mkdir()
    wrote = _write(mlflow_python, src, "first")
    uri, artifacts = f"sqlite:///{tmp_path / 'treadle.db'}", str(tmp_path / "artifacts")

    out = _import(src, uri, artifacts, mlflow_python)
    assert _count(out, "runs imported") == 2, out
    assert _count(out, "versions imported") == 2, out

    client = Client(uri, artifacts)
    exp = client.tracking.get_experiment_by_name("churn")
    assert exp.tags["team"] == "growth" and exp.tags["mlflow.import.experiment_id"]
    runs = {r.tags["mlflow.import.run_id"]: r for r in client.tracking.search_runs([exp.id]).runs}
    parent, child = runs[wrote["parent"]], runs[wrote["child"]]
    assert (parent.name, child.name) == ("sweep", "trial-1")
    assert child.parent_id == parent.id
    assert parent.status == child.status == "FINISHED" and parent.end_time and parent.start_time
    assert parent.params == {"lr": "0.1", "depth": "3"} and child.params == {"c": "1.0"}
    assert parent.tags["stage"] == "dev"
    for mlflow_id, run in ((wrote["parent"], parent), (wrote["child"], child)):
        assert set(run.metrics) == set(wrote[mlflow_id])
        for key, points in wrote[mlflow_id].items():
            series = client.tracking.get_metric_history(run.id, key)
            mine = sorted(zip(series.steps, series.timestamps, series.values, strict=True))
            assert mine == [tuple(p) for p in points], key
    assert len(wrote[wrote["parent"]]["loss"]) == 41

    files = {f.path: f for f in client.tracking.list_artifacts(parent.id)}
    assert client.blobs.read_bytes(files["raw/weights.bin"].digest) == (src / "weights.bin").read_bytes()
    assert json.loads(client.blobs.read_bytes(files["config/features.json"].digest)) == {"features": ["a", "b"]}

    versions = sorted(client.registry.search_versions(name="churn-clf"), key=lambda v: v.version)
    assert [v.version for v in versions] == [1, 2]
    assert all(v.flavor == "mlflow" for v in versions), [v.flavor for v in versions]
    assert versions[0].tags["validated"] == "yes"
    assert all(v.run_id == parent.id for v in versions)
    assert client.registry.get_version_by_alias("churn-clf", "champion").version == 2
    listed = {f.path for f in client.registry.list_version_files("churn-clf", 2)}
    assert "MLmodel" in listed and any(p.startswith("model.") for p in listed), listed

    # a second import, after one more run, brings only that run
    late = _write(mlflow_python, src, "second")
    out = _import(src, uri, artifacts, mlflow_python)
    assert _count(out, "runs imported") == 1, out
    assert _count(out, "runs already there") == 2, out
    assert _count(out, "versions imported") == 0 and _count(out, "metric points imported") == 1, out
    runs = {r.tags["mlflow.import.run_id"]: r for r in client.tracking.search_runs([exp.id]).runs}
    assert len(runs) == 3 and runs[late["late"]].metrics == {"loss": 0.5}
    assert len(client.registry.search_versions(name="churn-clf")) == 2


def test_import_needs_a_python_with_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TREADLE_MLFLOW_PYTHON", raising=False)
    result = CliRunner().invoke(app, ["--uri", f"sqlite:///{tmp_path / 't.db'}", "import", "mlflow", "--from", "x"])
    assert result.exit_code == 1
    assert "--mlflow-python" in result.output and "TREADLE_MLFLOW_PYTHON" in result.output


def test_tracking_uri_of_a_source(tmp_path: Path) -> None:
    assert tracking_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert tracking_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert tracking_uri(str(tmp_path)) == tmp_path.resolve().as_uri()
