"""A fresh, migrated main store per test, on SQLite and on PostgreSQL.

Migrating takes a second or so on PostgreSQL, so each backend is migrated once per session into a
template (a SQLite file to copy, a PostgreSQL template database) and every test gets a copy."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN, _pg_admin_conn
from treadle.store import Store


def _pg_database(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("access-template") / "main.db"
    Store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    try:
        admin = _pg_admin_conn()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN} ({exc})")
    name = f"treadle_access_tpl_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        Store(_pg_database(name)).dispose()  # migrated, and no connection left open (a template needs none)
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def main_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new main store URI: a SQLite file, or a PostgreSQL database of its own (dropped after)."""
    if request.param == "sqlite":
        path = tmp_path / "main.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("_pg_template")
    admin = _pg_admin_conn()
    name = f"treadle_access_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_database(name)
    finally:
        from treadle.client._backend import reset_backends

        reset_backends()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
