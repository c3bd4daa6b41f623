"""MLflow's wire rules on treadle's MLflow-compatible API, checked with plain HTTP (fast, no mlflow)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import treadle as td
from treadle.server import create_app
from treadle.testing.server import serve

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-wire")
    with serve(create_app(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def err(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def new_run(http: httpx.Client) -> tuple[str, str]:
    name = f"e-{uuid.uuid4().hex[:8]}"
    eid = ok(http.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"]
    run = ok(http.post(f"{API}/runs/create", json={"experiment_id": eid, "start_time": 5, "run_name": "r"}))["run"]
    return eid, run["info"]["run_id"]


def test_experiments_create_get_and_errors(http: httpx.Client) -> None:
    eid = ok(http.post(f"{API}/experiments/create", json={"name": "exp", "tags": [{"key": "k", "value": "v"}]}))[
        "experiment_id"
    ]
    assert isinstance(eid, str)
    err(http.post(f"{API}/experiments/create", json={"name": "exp"}), 400, "RESOURCE_ALREADY_EXISTS")
    err(http.post(f"{API}/experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    exp = ok(http.get(f"{API}/experiments/get", params={"experiment_id": eid}))["experiment"]
    assert exp["name"] == "exp" and exp["lifecycle_stage"] == "active"
    assert exp["tags"] == [{"key": "k", "value": "v"}] and exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    by_name = ok(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "exp"}))["experiment"]
    assert by_name["experiment_id"] == eid
    err(http.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.get(f"{API}/experiments/get", params={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.get(f"{API}/experiments/get", params={"experiment_id": "abc"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.get(f"{API}/experiments/get", params={"experiment_id": "9" * 40}), 404, "RESOURCE_DOES_NOT_EXIST")
    # the default experiment "0" exists, as on an MLflow server
    default = ok(http.get(f"{API}/experiments/get", params={"experiment_id": "0"}))["experiment"]
    assert default["name"] == "Default"
    ok(http.post(f"{API}/experiments/update", json={"experiment_id": eid, "new_name": "exp2"}))
    ok(http.post(f"{API}/experiments/delete", json={"experiment_id": eid}))
    found = ok(http.post(f"{API}/experiments/search", json={"view_type": "DELETED_ONLY"}))["experiments"]
    assert [e["name"] for e in found] == ["exp2"]
    ok(http.post(f"{API}/experiments/restore", json={"experiment_id": eid}))
    found = ok(http.post(f"{API}/experiments/search", json={"filter": "name LIKE 'exp%'", "max_results": 5}))
    assert [e["name"] for e in found["experiments"]] == ["exp2"]


def test_unknown_endpoints_and_bad_bodies(http: httpx.Client) -> None:
    err(http.get(f"{API}/no/such/thing"), 404, "ENDPOINT_NOT_FOUND")
    err(http.post("/api/3.0/mlflow/runs/nope", json={}), 404, "ENDPOINT_NOT_FOUND")
    err(http.get(f"{API}/runs/create"), 404, "ENDPOINT_NOT_FOUND")  # wrong method
    err(
        http.post(f"{API}/runs/create", content=b"{not json", headers={"content-type": "application/json"}),
        400,
        "MALFORMED_REQUEST",
    )
    err(
        http.post(f"{API}/runs/log-metric", json={"run_id": "0" * 32, "key": "m", "value": 1}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    err(http.get(f"{API}/runs/get", params={"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.get(f"{API}/runs/get"), 400, "INVALID_PARAMETER_VALUE")
    info = ok(http.get("/api/3.0/mlflow/server-info"))
    assert info["multipart_uploads_enabled"] is False


def test_run_logging_and_get(http: httpx.Client) -> None:
    eid, rid = new_run(http)
    assert len(rid) == 32
    ok(http.post(f"{API}/runs/log-parameter", json={"run_id": rid, "key": "p", "value": "1"}))
    ok(http.post(f"{API}/runs/log-parameter", json={"run_id": rid, "key": "p", "value": "1"}))  # same value: fine
    msg = err(
        http.post(f"{API}/runs/log-parameter", json={"run_uuid": rid, "key": "p", "value": "2"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "immutable" in msg
    ok(http.post(f"{API}/runs/log-metric", json={"run_id": rid, "key": "m", "value": 1.5, "step": 2, "timestamp": 9}))
    ok(http.post(f"{API}/runs/log-metric", json={"run_id": rid, "key": "n", "value": "NaN", "timestamp": 9}))
    err(
        http.post(f"{API}/runs/log-metric", json={"run_id": rid, "key": "m", "value": "x"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(
        http.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": rid,
                "metrics": [{"key": "m", "value": 2.5, "step": 3, "timestamp": 10}],
                "params": [{"key": "q", "value": "x"}],
                "tags": [{"key": "t", "value": "v"}, {"key": "mlflow.runName", "value": "renamed"}],
            },
        )
    )
    ok(http.post(f"{API}/runs/set-tag", json={"run_id": rid, "key": "gone", "value": "1"}))
    ok(http.post(f"{API}/runs/delete-tag", json={"run_id": rid, "key": "gone"}))
    err(http.post(f"{API}/runs/delete-tag", json={"run_id": rid, "key": "gone"}), 404, "RESOURCE_DOES_NOT_EXIST")
    run = ok(http.get(f"{API}/runs/get", params={"run_id": rid}))["run"]
    assert run["info"]["run_name"] == "renamed" and run["info"]["status"] == "RUNNING"
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{eid}/{rid}/artifacts"
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"p": "1", "q": "x"}
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics == {"m": 2.5, "n": "NaN"}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["t"] == "v" and tags["mlflow.runName"] == "renamed" and "gone" not in tags
    hist = ok(http.get(f"{API}/metrics/get-history", params={"run_id": rid, "metric_key": "m"}))["metrics"]
    assert [(m["step"], m["value"], m["timestamp"]) for m in hist] == [(2, 1.5, 9), (3, 2.5, 10)]
    page = ok(http.get(f"{API}/metrics/get-history", params={"run_id": rid, "metric_key": "m", "max_results": 1}))
    assert len(page["metrics"]) == 1 and page["next_page_token"]
    info = ok(http.post(f"{API}/runs/update", json={"run_id": rid, "status": "FINISHED", "end_time": 99}))["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 99
    err(http.post(f"{API}/runs/update", json={"run_id": rid, "status": "DONE"}), 400, "INVALID_PARAMETER_VALUE")
    ok(http.post(f"{API}/runs/delete", json={"run_id": rid}))
    assert ok(http.get(f"{API}/runs/get", params={"run_id": rid}))["run"]["info"]["lifecycle_stage"] == "deleted"
    ok(http.post(f"{API}/runs/restore", json={"run_id": rid}))


def test_nested_runs_and_search(http: httpx.Client) -> None:
    eid, parent = new_run(http)
    child = ok(
        http.post(
            f"{API}/runs/create",
            json={
                "experiment_id": eid,
                "tags": [{"key": "mlflow.parentRunId", "value": parent}],
                "run_name": "kid",
                "user_id": "ann",
            },
        )
    )["run"]["info"]["run_id"]
    ok(http.post(f"{API}/runs/log-metric", json={"run_id": parent, "key": "acc", "value": 0.9, "timestamp": 1}))
    ok(http.post(f"{API}/runs/log-metric", json={"run_id": child, "key": "acc", "value": 0.2, "timestamp": 1}))
    ok(http.post(f"{API}/runs/log-parameter", json={"run_id": child, "key": "lr", "value": "0.1"}))

    def search(**body: Any) -> list[str]:
        got = ok(http.post(f"{API}/runs/search", json={"experiment_ids": [eid], **body}))
        return [r["info"]["run_id"] for r in got.get("runs", [])]

    assert search(filter="metrics.acc > 0.5") == [parent]
    assert search(filter="params.lr = '0.1' and metrics.acc < 0.5") == [child]
    assert search(filter="tags.mlflow.runName = 'kid'") == [child]
    assert search(filter=f"tags.mlflow.parentRunId = '{parent}'") == [child]
    assert search(filter="attributes.user_id = 'ann'") == [child]
    assert search(order_by=["metrics.acc ASC"]) == [child, parent]
    first = ok(http.post(f"{API}/runs/search", json={"experiment_ids": [eid], "max_results": 1}))
    second = search(max_results=1, page_token=first["next_page_token"])
    assert len(second) == 1 and second[0] != first["runs"][0]["info"]["run_id"]
    err(
        http.post(f"{API}/runs/search", json={"experiment_ids": [eid], "filter": "metrics.acc >"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(http.post(f"{API}/runs/delete", json={"run_id": child}))
    assert search(run_view_type="DELETED_ONLY") == [child]
    assert set(search(run_view_type="ALL")) == {parent, child}


def test_artifacts_upload_list_download(http: httpx.Client) -> None:
    eid, rid = new_run(http)
    root = f"{eid}/{rid}/artifacts"
    assert http.put(f"{ARTIFACTS}/{root}/a.txt", content=b"hello").status_code == 200
    assert http.put(f"{ARTIFACTS}/{root}/dir/b.bin", content=b"\x00\x01").status_code == 200
    listing = ok(http.get(ARTIFACTS, params={"path": root}))["files"]
    assert listing == [{"path": "a.txt", "is_dir": False, "file_size": 5}, {"path": "dir", "is_dir": True}]
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/dir"}))["files"] == [
        {"path": "b.bin", "is_dir": False, "file_size": 2}
    ]
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/empty"})) == {}
    assert http.put(f"{ARTIFACTS}/{root}/dir/b.bin", content=b"\x00\x01\x02").status_code == 200  # overwrite
    assert ok(http.get(ARTIFACTS, params={"path": f"{root}/dir"}))["files"][0]["file_size"] == 3
    got = http.get(f"{ARTIFACTS}/{root}/dir/b.bin")
    assert got.status_code == 200 and got.content == b"\x00\x01\x02"
    err(http.get(f"{ARTIFACTS}/{root}/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.get(f"{ARTIFACTS}/{eid}/{'0' * 32}/artifacts/a.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    err(http.put(f"{ARTIFACTS}/{root}/%2E%2E/%2E%2E/x", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    err(http.get(ARTIFACTS, params={"path": "nothing/here"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_inputs_records_lineage(http: httpx.Client, server: str) -> None:
    _, rid = new_run(http)
    dataset = {"name": "iris", "digest": "abc123", "source_type": "local", "source": "file:///data/iris.csv"}
    body = {
        "run_id": rid,
        "datasets": [{"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}],
    }
    ok(http.post(f"{API}/runs/log-inputs", json=body))
    err(http.post(f"{API}/runs/log-inputs", json={**body, "run_id": "a" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    run = ok(http.get(f"{API}/runs/get", params={"run_id": rid}))["run"]
    assert run["inputs"]["dataset_inputs"] == [
        {"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": dataset}
    ]
    lineage = td.Client(server).lineage
    graph = lineage.upstream(lineage.find_node(f"run:{rid}").id)
    assert any(n.uri == "file:///data/iris.csv" for n in graph.nodes)


def test_experiment_search_by_get_query_fields(http: httpx.Client) -> None:
    eid, _ = new_run(http)
    name = ok(http.get(f"{API}/experiments/get", params={"experiment_id": eid}))["experiment"]["name"]
    got = ok(http.get(f"{API}/experiments/search", params={"filter": f"name = '{name}'", "max_results": 10}))
    assert [e["experiment_id"] for e in got["experiments"]] == [eid]
    err(http.get(f"{API}/experiments/search", params={"max_results": "ten"}), 400, "INVALID_PARAMETER_VALUE")
