"""Concurrent ``apply`` calls that change the same view, on SQLite and PostgreSQL: every one succeeds."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.features.defs_helpers import make_service
from treadle.features import DatasetSource, Entity, FeatureView, Field

STATS = pa.table(
    {
        "driver_id": pa.array([1], pa.int64()),
        "event_timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "trips": pa.array([3], pa.int64()),
    }
)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_applies_that_change_one_view_each_get_a_version(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = f"sqlite:///{tmp_path / 'fs.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    service = make_service(uri, tmp_path, {"stats": STATS})
    driver = Entity("driver", join_keys=["driver_id"])
    name = f"v_{uuid.uuid4().hex[:8]}"
    service.apply([driver.spec()])

    def apply(i: int) -> str:
        view = FeatureView(name, [driver], DatasetSource("stats"), [Field("trips", "int64")], description=f"take {i}")
        return service.apply([driver.spec(), view.spec()]).objects[1].action

    with ThreadPoolExecutor(max_workers=8) as pool:
        actions = list(pool.map(apply, range(24)))  # an IntegrityError here was a 500 over HTTP
    assert sorted(set(actions)) <= ["created", "updated"] and actions.count("created") == 1
    versions = [v.version for v in service.view_versions(name)]
    assert sorted(versions) == list(range(1, 25))
