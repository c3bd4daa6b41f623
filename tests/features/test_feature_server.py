"""The HTTP feature server on a real uvicorn: POST /features/online, the derived operations, the remote proxy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.features.online_helpers import DRIVER, REFS, apply, driver_view, history, now, online_service
from treadle.features import FeatureService
from treadle.features._lookup import OnlineResult
from treadle.features._routes import online_router
from treadle.server._errors import install_error_handlers
from treadle.server._operations import service_router
from treadle.testing.server import serve


def feature_app(service: FeatureService) -> FastAPI:
    """What the treadle server mounts for features: the derived operations and the fast lookup route."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(service_router(service))
    app.include_router(online_router(lambda: service))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FeatureService]]:
    t = now()
    rows = [(1, t - timedelta(hours=1), 11, 4.2, "lyon"), (2, t - timedelta(minutes=5), 20, 3.5, "nice")]
    with online_service("sqlite", tmp_path_factory.mktemp("fs"), {"driver_stats": history(rows)}) as (svc, _):
        apply(svc, DRIVER, driver_view(ttl=timedelta(days=1)))
        svc.materialize()
        with serve(feature_app(svc)) as url:
            yield url, svc


@pytest.fixture
def http(server: tuple[str, FeatureService]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=30) as client:
        yield client


def test_lookup_by_columns_and_by_rows(http: httpx.Client) -> None:
    response = http.post("/features/online", json={"features": REFS, "entities": {"driver_id": [2, 1, 7]}})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["features"] == ["trips", "rating", "city"]
    assert body["values"] == {
        "driver_id": [2, 1, 7],
        "trips": [20, 11, None],
        "rating": [3.5, 4.2, None],
        "city": ["nice", "lyon", None],
    }
    assert body["status"]["trips"] == ["present", "present", "missing"]
    assert body["event_ts"]["city"][2] is None and body["age_ms"]["city"][0] >= 5 * 60_000
    rows = http.post(
        "/features/online",
        json={"features": ["driver_stats:trips"], "entity_rows": [{"driver_id": 1}], "full_names": True},
    ).json()
    assert rows["values"] == {"driver_id": [1], "driver_stats__trips": [11]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}}, "unknown feature 'driver_stats:nope'"),
        ({"features": ["ghost:x"], "entities": {"driver_id": [1]}}, "unknown feature view 'ghost'"),
        ({"features": REFS, "entities": {"id": [1]}}, "has no 'driver_id'"),
        ({"features": REFS, "entities": {"driver_id": [1], "x": [1, 2]}}, "different lengths"),
        ({"features": REFS}, "either as"),
        ({"features": REFS, "entities": {"driver_id": [1]}, "entity_rows": []}, "not both"),
        ({"features": REFS, "entities": {"driver_id": [1]}, "extra": 1}, r"unknown fields \['extra'\]"),
        ({"features": [], "entities": {"driver_id": [1]}}, "non-empty list"),
        ({"features": REFS, "entities": {"driver_id": 1}}, "object of columns"),
        ({"features": REFS, "entity_rows": [1, 2]}, "list of objects"),
        ({"features": REFS, "entity_rows": [{"driver_id": 1}], "full_names": "yes"}, "true or false"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_requests_are_400s_naming_the_problem(http: httpx.Client, body: Any, message: str) -> None:
    response = http.post("/features/online", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert re.search(message, error["message"]), error["message"]


def test_malformed_json_is_a_400(http: httpx.Client) -> None:
    response = http.post("/features/online", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


def test_derived_operations_push_materialize_and_freshness(http: httpx.Client) -> None:
    when = now().isoformat()
    pushed = http.post(
        "/api/v1/features/push",
        json={
            "view": "driver_stats",
            "rows": [{"driver_id": 3, "event_timestamp": when, "trips": 30, "rating": 1.0, "city": "x"}],
        },
    )
    assert pushed.status_code == 200 and pushed.json() == 1
    naive = http.post(
        "/api/v1/features/push",
        json={
            "view": "driver_stats",
            "rows": [
                {"driver_id": 3, "event_timestamp": "2026-01-01T00:00:00", "trips": 1, "rating": 1.0, "city": "x"}
            ],
        },
    )
    assert naive.status_code == 400 and "no time zone" in naive.json()["error"]["message"]
    op = http.post(
        "/api/v1/features/get_online_features", json={"entity_rows": [{"driver_id": 3}], "features": REFS}
    ).json()
    assert op["values"]["trips"] == [30] and op["status"]["city"] == ["present"]
    report = http.post("/api/v1/features/materialize", json={}).json()
    assert report["views"][0]["view"] == "driver_stats" and report["views"][0]["incremental"] is True
    fresh = http.post("/api/v1/features/freshness", json={}).json()
    assert fresh[0]["view"] == "driver_stats" and fresh[0]["last_run"]["status"] == "completed"
    skew = http.post("/api/v1/features/skew_check", json={"view": "driver_stats", "sample": 10}).json()
    assert skew["sampled"] == 2


def test_remote_proxy_returns_the_same_result(server: tuple[str, FeatureService]) -> None:
    from treadle.client._remote import remote_service

    url, local = server
    with httpx.Client(base_url=url, timeout=30) as client:
        remote = remote_service(client, FeatureService)
        got = remote.get_online_features([{"driver_id": 1}, {"driver_id": 2}], REFS)
    assert isinstance(got, OnlineResult)
    expected = local.get_online_features([{"driver_id": 1}, {"driver_id": 2}], REFS)
    assert got.values == expected.values and got.status == expected.status and got.event_ts == expected.event_ts


def test_openapi_documents_the_route(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/features/online"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["features"] and "entities" in body["properties"]


def test_the_treadle_server_mounts_the_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``treadle server``'s app: definitions applied and materialized through the SDK, looked up over HTTP."""
    import pyarrow.parquet as pq

    from treadle import Client
    from treadle.data import FileSource
    from treadle.server import create_app

    monkeypatch.setenv("TREADLE_ONLINE_STORE", f"sqlite:///{tmp_path / 'online.db'}")
    t = now()
    pq.write_table(history([(1, t - timedelta(minutes=1), 7, 4.9, "oslo")]), tmp_path / "drivers.parquet")
    view = driver_view(source=FileSource(str(tmp_path / "drivers.parquet")))
    app = create_app(uri=f"sqlite:///{tmp_path / 'server.db'}", artifacts=str(tmp_path / "art"))
    with serve(app) as url:
        client = Client(url)
        client.features.apply([DRIVER.spec(), view.spec()])
        assert client.features.materialize().views[0].entities == 1
        body = httpx.post(f"{url}/features/online", json={"features": REFS, "entities": {"driver_id": [1]}}).json()
        assert body["values"]["city"] == ["oslo"] and body["status"]["trips"] == ["present"]
        remote = client.features.get_online_features([{"driver_id": 1}], REFS)
        assert remote.values == body["values"]
