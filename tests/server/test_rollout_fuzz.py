"""Schemathesis against the rollout operations only: bad bodies get a 4xx, never a 5xx.

A deployment named ``fuzz`` exists (a bandit, so that guardrail/auto-promote paths and the binary
reward bound are reachable), so generated requests that happen to name it get past the lookup.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from treadle import Client  # noqa: E402
from treadle.rollout import DeploymentSpec  # noqa: E402
from treadle.server import create_app  # noqa: E402

_root = Path(tempfile.mkdtemp(prefix="treadle-rollout-fuzz-"))
app = create_app(uri=f"sqlite:///{_root / 'fuzz.db'}", artifacts=str(_root / "art"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/api/v1/rollout/")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _seeded() -> None:
    spec = DeploymentSpec.model_validate(
        {
            "name": "fuzz",
            "bandit": {"arms": [{"name": "a", "model": "models:/m/1"}, {"name": "b", "model": "models:/m/2"}]},
            "guardrails": {"max_error_rate": 0.5, "min_requests": 1},
            "auto_promote": {"min_samples": 1},
        }
    )
    Client(f"sqlite:///{_root / 'fuzz.db'}", artifacts=str(_root / "art")).rollout.apply_deployment(spec)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_rollout_operations_never_5xx(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
