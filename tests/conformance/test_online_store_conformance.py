"""The online store suite on SQLite, memory and the local Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from treadle.features.online import OnlineStore, open_online_store
from treadle.testing.online_stores import *  # noqa: F403

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> None:
    redis = pytest.importorskip("redis", reason="the redis client is not installed (pip install 'treadle[redis]')")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})")


@pytest.fixture(params=["sqlite", "memory", "redis"])
def online_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    kind = request.param
    if kind == "sqlite":
        store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
        yield store
        store.close()
        return
    if kind == "memory":
        yield open_online_store("memory://")
        return
    _redis_or_skip()
    import redis

    prefix = f"treadle-test:{uuid.uuid4().hex[:12]}:"
    store = open_online_store(f"{REDIS_URL}?prefix={prefix}")
    try:
        yield store
    finally:
        store.close()
        client = redis.Redis.from_url(REDIS_URL)
        leftover = list(client.scan_iter(match=f"{prefix}*"))
        if leftover:
            client.unlink(*leftover)
        client.close()
