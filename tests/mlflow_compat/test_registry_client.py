"""The real mlflow client's model registry and logged models against a live treadle server.

What the client registers must be treadle's own registered models, versions and aliases (checked
through treadle's SDK), and the client must load it back by alias and predict.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import treadle as td
from tests.mlflow_compat.conftest import MlflowServer, RunMlflow

CLIENT_FLOW = """
import json, warnings
warnings.filterwarnings("ignore")
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
y = np.array([0, 1, 0, 1])
mlflow.set_experiment("registry-flow")
with mlflow.start_run() as run:
    mlflow.log_param("C", 1.0)
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
client = MlflowClient()
v1 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "iris-clf")
v2 = mlflow.register_model(f"models:/{info.model_id}", "iris-clf")
client.set_registered_model_alias("iris-clf", "champion", v2.version)
by_alias = client.get_model_version_by_alias("iris-clf", "champion")
found = client.search_model_versions("name='iris-clf'")
by_run = client.search_model_versions(f"run_id='{run.info.run_id}'")
rm = client.get_registered_model("iris-clf")
model = mlflow.pyfunc.load_model("models:/iris-clf@champion")
sk = mlflow.sklearn.load_model(f"models:/iris-clf/{v1.version}")
logged = client.get_logged_model(info.model_id)
print(json.dumps({
    "run_id": run.info.run_id,
    "model_id": info.model_id,
    "logged_status": str(logged.status),
    "logged_run": logged.source_run_id,
    "v1": v1.version, "v2": v2.version,
    "v1_run": v1.run_id, "v2_run": v2.run_id,
    "alias_version": by_alias.version, "alias_aliases": list(by_alias.aliases),
    "versions": sorted(v.version for v in found),
    "by_run": sorted(v.version for v in by_run),
    "rm_aliases": dict(rm.aliases),
    "predict": [int(p) for p in model.predict(X)],
    "sk_predict": [int(p) for p in sk.predict(X)],
}))
"""


def _last_json(out: str) -> dict[str, Any]:
    line = [line for line in out.splitlines() if line.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    return result


@pytest.mark.slow
def test_mlflow_client_registers_and_loads_a_model(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _last_json(run_mlflow(CLIENT_FLOW, timeout=600))
    assert out["v1"] == "1" and out["v2"] == "2"
    assert out["v1_run"] == out["run_id"] and out["v2_run"] == out["run_id"]
    # the client does not read model_id back (its from_proto skips it), but the wire carries it
    with _api(mlflow_server.url) as api:
        wire = api.get("/model-versions/get", params={"name": "iris-clf", "version": "2"}).json()["model_version"]
    assert wire["model_id"] == out["model_id"] and wire["version"] == "2" and wire["aliases"] == ["champion"]
    assert out["logged_status"].endswith("READY") and out["logged_run"] == out["run_id"]
    assert out["alias_version"] == "2" and out["alias_aliases"] == ["champion"]
    assert out["versions"] == ["1", "2"] and out["by_run"] == ["1", "2"]
    assert out["rm_aliases"] == {"champion": "2"}
    assert out["predict"] == [0, 1, 0, 1] and out["sk_predict"] == [0, 1, 0, 1]

    # The same objects, through treadle's own SDK.
    client = td.Client(mlflow_server.url)
    model = client.registry.get_model("iris-clf")
    assert model.aliases == {"champion": 2} and model.latest_version == 2
    versions = client.registry.search_versions(name="iris-clf")
    assert sorted(v.version for v in versions) == [1, 2]
    assert all(v.run_id == out["run_id"] and v.flavor == "mlflow" for v in versions)
    assert client.get_model_version_by_alias("iris-clf", "champion").version == 2
    files = {f.path for f in client.registry.list_version_files("iris-clf", 2)}
    assert "MLmodel" in files and any(f.startswith("model.") for f in files)  # model.skops in 3.17
    # the logged model is the run's own "model" folder, as td.log_model stores one
    assert "model/MLmodel" in {f.path for f in client.list_artifacts(out["run_id"])}


# ------------------------------------------------------------------ wire details, no mlflow client
def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=30)


def test_registry_errors_and_paging(mlflow_server: MlflowServer) -> None:
    with _api(mlflow_server.url) as api:
        created = api.post("/registered-models/create", json={"name": "wire-model", "description": "d"})
        assert created.status_code == 200, created.text
        assert created.json()["registered_model"]["name"] == "wire-model"

        again = api.post("/registered-models/create", json={"name": "wire-model"})
        assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"

        for path, query in [
            ("/registered-models/get", {"name": "nope"}),
            ("/model-versions/get", {"name": "wire-model", "version": "7"}),
            ("/model-versions/get", {"name": "nope", "version": "1"}),
            ("/registered-models/alias", {"name": "wire-model", "alias": "champion"}),
            ("/registered-models/alias", {"name": "nope", "alias": "champion"}),
            ("/model-versions/get-download-uri", {"name": "wire-model", "version": "3"}),
        ]:
            answer = api.get(path, params=query)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", (path, answer.text)

        bad = api.get("/model-versions/get", params={"name": "wire-model", "version": "x"})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        missing = api.post("/registered-models/create", json={})
        assert missing.status_code == 400 and missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        unknown_source = api.post("/model-versions/create", json={"name": "wire-model", "source": "s3://b/k"})
        assert unknown_source.status_code == 400, unknown_source.text
        no_model = api.post("/model-versions/create", json={"name": "wire-model", "source": f"models:/m-{'0' * 32}"})
        assert no_model.status_code == 404 and no_model.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        no_run = api.post("/model-versions/create", json={"name": "wire-model", "source": f"runs:/{'a' * 32}/model"})
        assert no_run.status_code == 404, no_run.text
        bad_alias = api.post("/registered-models/alias", json={"name": "wire-model", "alias": "x", "version": "9"})
        assert bad_alias.status_code == 404 and bad_alias.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        bad_filter = api.get("/model-versions/search", params={"filter": "name ~ 'x'"})
        assert bad_filter.status_code == 400 and bad_filter.json()["error_code"] == "INVALID_PARAMETER_VALUE"

        for i in range(3):
            assert api.post("/registered-models/create", json={"name": f"paged-{i}"}).status_code == 200
        seen, token = [], None
        while True:
            params: dict[str, Any] = {"filter": "name LIKE 'paged-%'", "max_results": 2}
            if token:
                params["page_token"] = token
            page = api.get("/registered-models/search", params=params).json()
            seen += [m["name"] for m in page.get("registered_models", [])]
            token = page.get("next_page_token")
            if not token:
                break
        assert seen == ["paged-0", "paged-1", "paged-2"]


def test_logged_model_errors(mlflow_server: MlflowServer) -> None:
    with _api(mlflow_server.url) as api:
        missing = api.get(f"/logged-models/m-{'1' * 32}")
        assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        junk = api.get("/logged-models/not-an-id")
        assert junk.status_code == 404 and junk.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        made = api.post("/logged-models", json={"experiment_id": "0", "name": "free"})
        assert made.status_code == 200, made.text
        info = made.json()["model"]["info"]
        assert info["model_id"].startswith("m-") and info["status"] == "LOGGED_MODEL_PENDING"
        done = api.patch(f"/logged-models/{info['model_id']}", json={"status": "LOGGED_MODEL_READY"})
        assert done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
        wrong = api.patch(f"/logged-models/{info['model_id']}", json={"status": "BOGUS"})
        assert wrong.status_code == 400 and wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        found = api.post("/logged-models/search", json={"experiment_ids": ["0"], "filter": "name = 'free'"}).json()
        assert [m["info"]["model_id"] for m in found["models"]] == [info["model_id"]]
        assert api.request("DELETE", f"/logged-models/{info['model_id']}").is_success
        hidden = api.get(f"/logged-models/{info['model_id']}")
        assert hidden.status_code == 404 and hidden.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        kept = api.get(f"/logged-models/{info['model_id']}", params={"allow_deleted": "true"})
        assert kept.status_code == 200
        no_files = api.post(
            "/model-versions/create", json={"name": "free-model", "source": f"models:/{info['model_id']}"}
        )
        assert no_files.status_code == 400 and no_files.json()["error_code"] == "INVALID_PARAMETER_VALUE"


CLIENT_MORE = """
import json, warnings
warnings.filterwarnings("ignore")
import mlflow, numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

X = np.array([[0.0], [1.0], [2.0]])
mlflow.set_experiment("registry-more")
# a logged model made outside any run: its files live under the logged model itself
info = mlflow.sklearn.log_model(LinearRegression().fit(X, [0.0, 2.0, 4.0]), name="free")
client = MlflowClient()
mv = mlflow.register_model(f"models:/{info.model_id}", "free-reg")
codes = {}
try:
    client.create_registered_model("free-reg")
except MlflowException as exc:
    codes["duplicate"] = exc.error_code
client.set_registered_model_alias("free-reg", "prod", mv.version)
client.delete_registered_model_alias("free-reg", "prod")
try:
    client.get_model_version_by_alias("free-reg", "prod")
except MlflowException as exc:
    codes["gone_alias"] = exc.error_code
try:
    client.get_registered_model("no-such-model")
except MlflowException as exc:
    codes["no_model"] = exc.error_code
client.set_model_version_tag("free-reg", mv.version, "team", "ml")
client.update_model_version("free-reg", mv.version, description="first")
got = client.get_model_version("free-reg", mv.version)
latest = client.get_latest_versions("free-reg")
names = [m.name for m in client.search_registered_models(filter_string="name LIKE 'free%'")]
pred = mlflow.pyfunc.load_model(f"models:/free-reg/{mv.version}").predict(np.array([[3.0]]))
print(json.dumps({
    "codes": codes, "tags": dict(got.tags), "description": got.description,
    "latest": [v.version for v in latest], "names": names, "pred": float(pred[0]),
}))
"""


@pytest.mark.slow
def test_mlflow_client_registry_calls_and_errors(run_mlflow: RunMlflow, mlflow_server: MlflowServer) -> None:
    out = _last_json(run_mlflow(CLIENT_MORE, timeout=600))
    assert out["codes"] == {
        "duplicate": "RESOURCE_ALREADY_EXISTS",
        "gone_alias": "RESOURCE_DOES_NOT_EXIST",
        "no_model": "RESOURCE_DOES_NOT_EXIST",
    }
    assert out["tags"] == {"team": "ml"} and out["description"] == "first"
    assert out["latest"] == ["1"] and out["names"] == ["free-reg"]
    assert abs(out["pred"] - 6.0) < 1e-6
    client = td.Client(mlflow_server.url)
    version = client.registry.get_version("free-reg", 1)
    assert version.tags == {"team": "ml", "mlflow.modelId": version.tags["mlflow.modelId"]}
    assert version.run_id is None and version.flavor == "mlflow"
    assert [m.alias for m in client.registry.get_alias_history("free-reg")] == ["prod", "prod"]


def test_registered_files_are_served_read_only_and_deletes_cascade(mlflow_server: MlflowServer) -> None:
    with _api(mlflow_server.url) as api, httpx.Client(base_url=mlflow_server.url, timeout=30) as http:
        info = api.post("/logged-models", json={"experiment_id": "0", "name": "raw"}).json()["model"]["info"]
        root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
        files = "/api/2.0/mlflow-artifacts/artifacts"
        assert http.put(f"{files}/{root}/MLmodel", content=b"flavors: {}\n").status_code == 200
        assert http.put(f"{files}/{root}/data/weights.bin", content=b"\x00\x01").status_code == 200
        made = api.post("/model-versions/create", json={"name": "raw-reg", "source": f"models:/{info['model_id']}"})
        assert made.status_code == 200, made.text
        assert made.json()["model_version"]["status"] == "READY"

        uri = api.get("/model-versions/get-download-uri", params={"name": "raw-reg", "version": "1"}).json()
        base = uri["artifact_uri"].removeprefix("mlflow-artifacts:/")
        listing = http.get(files, params={"path": base}).json()["files"]
        assert [(f["path"], f["is_dir"]) for f in listing] == [("MLmodel", False), ("data", True)]
        assert http.get(f"{files}/{base}/data/weights.bin").content == b"\x00\x01"
        refused = http.put(f"{files}/{base}/MLmodel", content=b"x")
        assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"

        assert api.post(
            "/registered-models/alias", json={"name": "raw-reg", "alias": "prod", "version": "1"}
        ).is_success
        latest = api.post("/registered-models/get-latest-versions", json={"name": "raw-reg"}).json()
        assert [v["version"] for v in latest["model_versions"]] == ["1"]
        assert api.request("DELETE", "/model-versions/delete", json={"name": "raw-reg", "version": "1"}).is_success
        gone = api.get("/registered-models/alias", params={"name": "raw-reg", "alias": "prod"})
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert api.request("DELETE", "/registered-models/delete", json={"name": "raw-reg"}).is_success
        after = api.get("/registered-models/get", params={"name": "raw-reg"})
        assert after.status_code == 404 and after.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
