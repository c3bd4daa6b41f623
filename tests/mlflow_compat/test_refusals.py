"""What treadle's MLflow API refuses on purpose (registered-model rename, stage transitions, artifact
deletes) is answered 400 INVALID_PARAMETER_VALUE with what to do instead, and the unmodified mlflow
client shows that message; the suggested alternatives work."""

from __future__ import annotations

import json
from typing import Any

import pytest

import treadle as td
from tests.mlflow_compat.conftest import MlflowServer, RunMlflow

pytestmark = pytest.mark.slow

FLOW = r"""
import json, os, tempfile, warnings
warnings.filterwarnings("ignore")
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("refusals")
X, y = load_iris(return_X_y=True)
client = MlflowClient()
out = {}
with mlflow.start_run() as run:
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.sklearn.log_model(model, name="clf", registered_model_name="refused")
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("keep me")
    mlflow.log_artifact(os.path.join(d, "notes.txt"))
out["run"] = run.info.run_id


def refused(call):
    try:
        call()
    except MlflowException as e:
        return {"code": e.error_code, "message": e.message}
    except Exception as e:  # e.g. requests' HTTPError from the artifact repository
        return {"code": type(e).__name__, "message": str(e)}
    return None


out["rename"] = refused(lambda: client.rename_registered_model("refused", "accepted"))
out["stage"] = refused(lambda: client.transition_model_version_stage("refused", "1", "Production"))
repo = get_artifact_repository(run.info.artifact_uri)
out["delete"] = refused(lambda: repo.delete_artifacts("notes.txt"))
out["after_delete"] = sorted(a.path for a in client.list_artifacts(out["run"]))

# what the messages suggest instead
copied = client.copy_model_version("models:/refused/1", "accepted")
out["copied"] = [copied.name, copied.version]
client.set_registered_model_alias("refused", "production", 1)
expected = mlflow.pyfunc.load_model("models:/refused/1").predict(X[:4]).tolist()
out["copy_predicts"] = mlflow.pyfunc.load_model("models:/accepted/1").predict(X[:4]).tolist() == expected
out["alias_predicts"] = mlflow.pyfunc.load_model("models:/refused@production").predict(X[:4]).tolist() == expected
version_files = client.get_model_version_download_uri("refused", "1")
out["version_files"] = sorted(a.path for a in get_artifact_repository(version_files).list_artifacts())
print("RESULT" + json.dumps(out))
"""


def _result(stdout: str) -> dict[str, Any]:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_refusals_say_what_to_do(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _result(run_mlflow(FLOW, timeout=600))

    assert out["rename"]["code"] == "INVALID_PARAMETER_VALUE"
    assert "does not rename" in out["rename"]["message"] and "copy_model_version" in out["rename"]["message"]
    assert out["stage"]["code"] == "INVALID_PARAMETER_VALUE"
    assert "alias" in out["stage"]["message"] and "models:/refused@production" in out["stage"]["message"]
    assert "400" in out["delete"]["message"] and "does not delete artifacts" in out["delete"]["message"]
    assert "notes.txt" in out["after_delete"]

    assert out["copied"] == ["accepted", "1"]
    assert out["copy_predicts"] and out["alias_predicts"]
    assert {"MLmodel", "requirements.txt"} <= set(out["version_files"])

    registry = td.Client(mlflow_server.url).registry
    assert registry.get_model("refused").aliases == {"production": 1}
    assert registry.get_version("accepted", 1).run_id == out["run"]
    assert {f.path for f in registry.list_version_files("accepted", 1)} >= {"MLmodel", "requirements.txt"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/2.0/mlflow/registered-models/rename", {"name": "nobody", "new_name": "x"}),
        (
            "POST",
            "/api/2.0/mlflow/model-versions/transition-stage",
            {"name": "nobody", "version": "1", "stage": "Staging"},
        ),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/" + "0" * 32 + "/artifacts/a.txt", None),
    ],
)
def test_refusals_of_unknown_objects_are_404(
    mlflow_server: MlflowServer, method: str, path: str, body: dict[str, str] | None
) -> None:
    import httpx

    got = httpx.request(method, mlflow_server.url + path, json=body)
    assert got.status_code == 404 and got.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    ("flt", "order_by", "says"),
    [
        ("metrics.acc > 'high'", [], "compare metrics"),
        ("params.C > 1", [], "is a string"),
        ("flavor = 'sklearn'", [], "unknown logged model attribute"),
        ("name ~ 'x'", [], "unsupported logged model filter"),
        ("", [{"field_name": "params.C"}], "cannot order logged models"),
        ("", [{"ascending": True}], "needs a field_name"),
    ],
)
def test_bad_logged_model_searches_are_400(
    mlflow_server: MlflowServer, flt: str, order_by: list[dict[str, Any]], says: str
) -> None:
    import httpx

    body = {"experiment_ids": ["0"], "filter": flt, "order_by": order_by}
    got = httpx.post(mlflow_server.url + "/api/2.0/mlflow/logged-models/search", json=body)
    assert got.status_code == 400 and got.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert says in got.json()["message"]
