"""Shared helpers for the online-store tests (B2's modules): data, definitions, services per store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.features.defs_helpers import TablesReader
from treadle.artifacts import open_blob_store
from treadle.features import DatasetSource, Entity, FeatureService, FeatureView, Field
from treadle.store import Store

REDIS_URL = "redis://127.0.0.1:6379/0"
FEATURES = ["trips", "rating", "city"]
REFS = [f"driver_stats:{f}" for f in FEATURES]
DRIVER = Entity("driver", join_keys=["driver_id"])


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def history(rows: Sequence[tuple[int, datetime, int, float, str]]) -> pa.Table:
    """A driver_stats table from (driver_id, event time, trips, rating, city) tuples."""
    return pa.table(
        {
            "driver_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "trips": pa.array([r[2] for r in rows], pa.int64()),
            "rating": pa.array([r[3] for r in rows], pa.float64()),
            "city": pa.array([r[4] for r in rows], pa.string()),
        }
    )


def driver_view(ttl: timedelta | None = None, name: str = "driver_stats", **kw: Any) -> FeatureView:
    schema = kw.pop("schema", [Field("trips", "int64"), Field("rating", "float64"), Field("city", "string")])
    source = kw.pop("source", None) or DatasetSource(kw.pop("dataset", name))
    return FeatureView(name, [DRIVER], source, schema, ttl=ttl, **kw)


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


@contextmanager
def online_service(kind: str, root: Path, tables: dict[str, pa.Table]) -> Iterator[tuple[FeatureService, TablesReader]]:
    """A feature service on a fresh SQLite metadata store whose online store is ``kind`` (sqlite | redis)."""
    reader = TablesReader(tables)
    prefix = f"treadle-test:{uuid.uuid4().hex[:12]}:"
    if kind == "redis":
        if not redis_available():
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
        online = f"{REDIS_URL}?prefix={prefix}"
    else:
        online = f"sqlite:///{root / 'online.db'}"
    service = FeatureService(
        Store(f"sqlite:///{root / 'meta.db'}"), open_blob_store(str(root / "blobs")), reader, online
    )
    try:
        yield service, reader
    finally:
        service.online_store().close()
        if kind == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            leftover = list(client.scan_iter(match=f"{prefix}*"))
            if leftover:
                client.unlink(*leftover)
            client.close()


def apply(service: FeatureService, *defs: Any) -> None:
    service.apply([d.spec() for d in defs])
