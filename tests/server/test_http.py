"""The HTTP surface: derived routes, error mapping, blob streaming, OpenAPI."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from treadle import Client
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("http")
    with serve(create_app(uri=f"sqlite:///{root / 's.db'}", artifacts=str(root / "art"))) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server) as c:
        yield c


def _op(http: httpx.Client, op: str, **body: object) -> httpx.Response:
    return http.post(f"/api/v1/tracking/{op}", json=body)


def test_health_version_openapi(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/version").json()["schema"]
    spec = http.get("/openapi.json").json()
    assert "/api/v1/tracking/search_runs" in spec["paths"]
    body = spec["paths"]["/api/v1/tracking/log_batch"]["post"]["requestBody"]
    assert body["required"] is True
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("op", "body", "status", "code"),
    [
        ("get_run", {"run_id": "nope"}, 404, "NOT_FOUND"),
        ("get_experiment", {"experiment_id": "12345"}, 404, "NOT_FOUND"),
        ("get_run", {}, 422, "INVALID_ARGUMENT"),
        ("get_run", {"run_id": {"x": 1}}, 422, "INVALID_ARGUMENT"),
        ("search_runs", {"filter": "metrics.acc >"}, 400, "INVALID_ARGUMENT"),
        ("search_runs", {"max_results": "lots"}, 422, "INVALID_ARGUMENT"),
        ("create_experiment", {"name": "x", "surprise": 1}, 422, "INVALID_ARGUMENT"),
        ("no_such_operation", {}, 404, "NOT_FOUND"),
    ],
)
def test_bad_requests_get_clear_errors(
    http: httpx.Client, op: str, body: dict[str, object], status: int, code: str
) -> None:
    response = _op(http, op, **body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_malformed_json_is_a_4xx(http: httpx.Client) -> None:
    response = http.post("/api/v1/tracking/get_run", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_ARGUMENT"


def test_conflicts_map_to_409_and_param_conflicts_to_400(http: httpx.Client) -> None:
    name = f"e-{os.urandom(4).hex()}"
    exp = _op(http, "create_experiment", name=name).json()
    assert _op(http, "create_experiment", name=name).status_code == 409
    run = _op(http, "create_run", experiment_id=exp["id"]).json()
    assert _op(http, "log_batch", run_id=run["id"], params={"a": "1"}).status_code == 200
    clash = _op(http, "log_batch", run_id=run["id"], params={"a": "2"})
    assert clash.status_code == 400 and clash.json()["error"]["code"] == "PARAM_CONFLICT"


def test_blob_upload_checks_digest_and_streams(http: httpx.Client, server: str, tmp_path: Path) -> None:
    data = os.urandom(8 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    bad = http.put(f"/api/v1/blobs/{wrong}", content=data)
    assert bad.status_code == 400 and "nothing was stored" in bad.json()["error"]["message"]
    assert http.head(f"/api/v1/blobs/{wrong}").status_code == 404

    def chunks() -> Iterator[bytes]:  # a chunked upload, never one buffer on the client side
        for i in range(0, len(data), 1 << 20):
            yield data[i : i + (1 << 20)]

    assert http.put(f"/api/v1/blobs/{digest}", content=chunks()).status_code == 201
    assert http.head(f"/api/v1/blobs/{digest}").status_code == 200
    with http.stream("GET", f"/api/v1/blobs/{digest}") as response:
        got = b"".join(response.iter_bytes())
    assert got == data
    assert http.get("/api/v1/blobs/not-a-digest").status_code == 400


def test_run_file_download_and_traversal(http: httpx.Client, server: str) -> None:
    client = Client(server)
    exp = client.tracking.create_experiment(f"dl-{os.urandom(4).hex()}")
    run = client.tracking.create_run(exp.id)
    client.log_text(run.id, "hello", "docs/readme.txt")
    ok = http.get(f"/api/v1/runs/{run.id}/artifacts/docs/readme.txt")
    assert ok.status_code == 200 and ok.text == "hello" and ok.headers["content-type"].startswith("text/plain")
    assert ok.headers["content-security-policy"] == "sandbox" and ok.headers["x-content-type-options"] == "nosniff"
    attachment = http.get(f"/api/v1/runs/{run.id}/artifacts/docs/readme.txt", params={"download": 1})
    assert "attachment" in attachment.headers["content-disposition"]
    client.log_text(run.id, "weights", 'модель "v1".txt')
    named = http.get(f'/api/v1/runs/{run.id}/artifacts/модель "v1".txt', params={"download": 1})
    assert named.status_code == 200 and named.text == "weights"
    disposition = named.headers["content-disposition"]
    assert 'filename="______ _v1_.txt"' in disposition and "filename*=UTF-8''%D0%BC" in disposition
    for path in ("docs/../../etc/passwd", "docs/%2e%2e/%2e%2e/etc/passwd", "missing.txt"):
        response = http.get(f"/api/v1/runs/{run.id}/artifacts/{path}")
        assert response.status_code in (400, 404), path
        assert "error" in response.json()
