"""Property-based requests from the OpenAPI spec (schemathesis): bad input never gets a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from treadle.server import create_app  # noqa: E402

_root = Path(tempfile.mkdtemp(prefix="treadle-fuzz-"))
app = create_app(uri=f"sqlite:///{_root / 'fuzz.db'}", artifacts=str(_root / "art"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

pytestmark = pytest.mark.slow


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
