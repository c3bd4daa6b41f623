"""Real backends for the data layer: a local HTTP file server, moto's S3 server, Redis."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real ``http.server`` on a thread serving a temp folder: ``(folder, base_url)``."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc})")
    return REDIS_URL


@pytest.fixture
def stream_key(redis_url: str) -> Iterator[str]:
    """A unique Redis stream key, deleted after the test."""
    import redis

    key = f"treadle-test:{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(redis_url)
    client.delete(key)
    client.close()
