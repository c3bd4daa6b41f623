"""The store: URI selection, SQLite settings, migrations and the schema check."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import treadle.artifacts
import treadle.datasets._tables
import treadle.events
import treadle.features._tables
import treadle.lineage
import treadle.orchestration._schedule_tables
import treadle.orchestration._tables
import treadle.registry
import treadle.rollout._tables
import treadle.studies._tables
import treadle.tracking  # noqa: F401  (registers every table on the shared metadata)
from treadle.errors import InvalidArgument, SchemaOutOfDate
from treadle.store import Store, current_revision, head_revision, metadata, upgrade


def test_new_sqlite_store_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'a.db'}")
    with store.read() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def _at_older_revision(uri: str) -> Store:
    store = Store(uri, check_schema=False)
    upgrade(store, "0001")
    return store


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_older_schema_says_how_to_upgrade(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else _fresh_pg(request)
    _at_older_revision(uri).dispose()
    with pytest.raises(SchemaOutOfDate, match="treadle db upgrade"):
        Store(uri)
    before, after = upgrade(Store(uri, check_schema=False))
    assert (before, after) == ("0001", head_revision())
    Store(uri).dispose()  # opens cleanly now


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    store = Store(uri)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaOutOfDate, match="newer"):
        Store(uri)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_match_the_table_definitions(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else _fresh_pg(request)
    store = Store(uri)
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"migrations and table definitions disagree: {diff}"


def test_bad_uris(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        Store("mysql://x/y")
    with pytest.raises(InvalidArgument):
        Store("sqlite://")
    with pytest.raises(InvalidArgument):
        Store("not a uri")


def _fresh_pg(request: pytest.FixtureRequest) -> str:
    """A new empty PostgreSQL database for one test (dropped with the session's)."""
    import uuid

    from tests.conftest import _pg_admin_conn

    request.getfixturevalue("pg_url")  # skips when PostgreSQL is absent
    admin = _pg_admin_conn()
    name = f"treadle_t_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from treadle.client._backend import reset_backends

        reset_backends()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    request.addfinalizer(drop)
    from tests.conftest import PG_ADMIN

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
