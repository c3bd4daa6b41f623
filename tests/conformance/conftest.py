"""The tracking suite on SQLite, PostgreSQL and the HTTP remote; the blob suite on local disk,
memory, S3 (moto's server) and the HTTP remote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from treadle import Client
from treadle.artifacts import BlobStore, FsspecBlobStore
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def _module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backend")


@pytest.fixture(scope="module")
def _http_server(_module_dir: Path) -> Iterator[str]:
    app = create_app(uri=f"sqlite:///{_module_dir / 'server.db'}", artifacts=str(_module_dir / "server-art"))
    with serve(app) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres", "http"])
def client(request: pytest.FixtureRequest, _module_dir: Path) -> Client:
    kind = request.param
    if kind == "sqlite":
        return Client(f"sqlite:///{_module_dir / 'local.db'}", artifacts=str(_module_dir / "local-art"))
    if kind == "postgres":
        pg_url = request.getfixturevalue("pg_url")
        return Client(pg_url, artifacts=str(_module_dir / "pg-art"))
    return Client(request.getfixturevalue("_http_server"))


@pytest.fixture(params=["local", "memory", "s3", "http"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobStore:
    kind = request.param
    if kind == "local":
        return FsspecBlobStore(str(tmp_path / "blobs"))
    if kind == "memory":
        return FsspecBlobStore(f"memory://{uuid.uuid4().hex}")
    if kind == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return FsspecBlobStore(f"s3://{bucket}/blobs")
    url = request.getfixturevalue("_http_server")
    return Client(url).blobs  # type: ignore[no-any-return]
