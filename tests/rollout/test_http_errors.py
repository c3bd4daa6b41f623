"""Rollout operations over the real HTTP API with bad bodies: each answer is a 4xx that says what was
wrong, never a 500 (the generated cases are in tests/server/test_rollout_fuzz.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from treadle.rollout import DeploymentSpec
from treadle.server import create_app
from treadle.testing.server import serve

API = "/api/v1/rollout"
BANDIT = {
    "name": "offers",
    "bandit": {"arms": [{"name": "a", "model": "models:/m/1"}, {"name": "b", "model": "models:/m/2"}]},
}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = Path(tmp_path_factory.mktemp("rollout-http"))
    app = create_app(uri=f"sqlite:///{root / 'r.db'}", artifacts=str(root / "art"))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        spec = DeploymentSpec.model_validate(BANDIT).model_dump(mode="json")
        assert client.post(f"{API}/apply_deployment", json={"spec": spec}).status_code == 200
        yield client


def _message(r: httpx.Response) -> str:
    error = r.json()["error"]
    return str(error["message"] if isinstance(error, dict) else error)


@pytest.mark.parametrize(
    ("operation", "body", "status", "says"),
    [
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef", "reward": 5}, 400, "binary"),
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef", "reward": 0.5}, 400, "binary"),
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef", "reward": "NaN"}, 400, "finite"),
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef", "reward": "-inf"}, 400, "finite"),
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef", "reward": "x"}, 422, "reward"),
        ("record_feedback", {"decision_id": "offers/1/a/0123456789abcdef"}, 422, "reward"),
        ("record_feedback", {"decision_id": "offers/1/zz/0123456789abcdef", "reward": 1}, 400, "no variant 'zz'"),
        ("record_feedback", {"decision_id": "offers/7/a/0123456789abcdef", "reward": 1}, 404, "no revision 7"),
        ("record_feedback", {"decision_id": "gone/1/a/0123456789abcdef", "reward": 1}, 404, "does not exist"),
        ("record_feedback", {"decision_id": "offers/1/a", "reward": 1}, 400, "malformed decision id"),
        ("record_traffic", {"name": "offers", "revision": 1, "traffic": [{"variant": "a", "requests": -1}]}, 422, ""),
        ("record_traffic", {"name": "offers", "revision": 1, "traffic": [{"variant": "q", "requests": 1}]}, 400, "q"),
        ("record_traffic", {"name": "offers", "revision": 2**40, "traffic": []}, 404, "no revision"),
        (
            "record_traffic",
            {"name": "offers", "revision": 1, "traffic": [{"variant": "a", "latency_ms_buckets": [1] * 99}]},
            400,
            "latency_ms_buckets",
        ),
        ("apply_deployment", {"spec": {"name": "x", "routes": [{"name": "a", "model": "m", "weight": 0}]}}, 422, ""),
        ("apply_deployment", {"spec": {**BANDIT, "routes": [{"name": "a", "model": "m"}]}}, 422, "exactly one"),
        ("promote", {"name": "offers", "variant": "zz"}, 404, "no variant 'zz'"),
        ("promote", {"name": "offers"}, 400, "no winner yet"),
        ("evaluate", {"name": "offers", "revision": -1}, 200, ""),
        ("get_stats", {"name": "offers", "revision": -5}, 404, "no revision"),
        ("add_log_part", {"endpoint": "e", "digest": "d", "size": -1, "rows": 0, "first_ms": 0, "last_ms": 0}, 400, ""),
    ],
)
def test_bad_bodies_get_a_4xx_that_says_why(
    http: httpx.Client, operation: str, body: dict[str, object], status: int, says: str
) -> None:
    r = http.post(f"{API}/{operation}", json=body)
    assert r.status_code == status, r.text
    if status >= 400:
        assert says in _message(r), r.text


def test_thin_statistics_cross_http_as_json(http: httpx.Client) -> None:
    """A continuous arm with one reward has no interval yet: null in JSON, never an infinity."""
    arms = [{"name": "a", "model": "models:/m/1"}, {"name": "b", "model": "models:/m/2"}]
    spec = DeploymentSpec.model_validate({"name": "thin", "bandit": {"reward": "continuous", "arms": arms}})
    assert http.post(f"{API}/apply_deployment", json={"spec": spec.model_dump(mode="json")}).status_code == 200
    fed = http.post(f"{API}/record_feedback", json={"decision_id": "thin/1/a/0123456789abcdef", "reward": 2.5})
    assert fed.status_code == 200 and fed.json()["accepted"] is True
    stats = http.post(f"{API}/get_stats", json={"name": "thin"})
    assert stats.status_code == 200
    a = stats.json()["variants"][0]
    assert (a["reward_mean"], a["ci_low"], a["ci_high"]) == (2.5, None, None)
