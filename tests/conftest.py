"""Shared fixtures: real SQLite, PostgreSQL and HTTP backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from treadle.client import _fluent
from treadle.client._backend import reset_backends

PG_ADMIN = os.environ.get("TREADLE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin_conn():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True, connect_timeout=3)


@contextmanager
def fresh_pg_database(prefix: str = "treadle_test") -> Iterator[str]:
    """A new PostgreSQL database's URL, dropped afterwards (the test skips when PostgreSQL is absent)."""
    try:
        admin = _pg_admin_conn()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN} ({exc})")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        reset_backends()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'treadle.db'}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Point the SDK's defaults at this test's temp dir, and forget cached backends after."""
    monkeypatch.setenv("TREADLE_URI", f"sqlite:///{tmp_path / 'default.db'}")
    monkeypatch.setenv("TREADLE_ARTIFACTS", str(tmp_path / "default-artifacts"))
    monkeypatch.setenv("TREADLE_CAPTURE_ENVIRONMENT", "false")
    monkeypatch.setenv("TREADLE_CACHE", str(tmp_path / "model-cache"))
    yield
    state = _fluent._state  # the fluent API's default client must not outlive this test's TREADLE_URI
    if state.batcher is not None:
        state.batcher.close()
    _fluent._state = _fluent._State()
    reset_backends()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole test session."""
    from treadle.testing.server import free_port

    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on moto's S3 server (credentials and endpoint from the environment)."""
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    bucket = f"b{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return bucket
