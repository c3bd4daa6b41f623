"""``treadle db upgrade|current``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.store import Store, head_revision, upgrade


@pytest.fixture
def old_store(tmp_path: Path) -> str:
    """A database migrated only to the first revision, as an older treadle left it."""
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(uri, check_schema=False)
    upgrade(store, "0001")
    store.dispose()
    return uri


def test_upgrade_an_empty_database(ok: Ok, tmp_path: Path) -> None:
    head = head_revision()
    assert "current: <empty>" in ok("db", "current")
    assert f"Upgraded schema from <empty> to {head}." in ok("db", "upgrade")
    text = ok("db", "current")
    assert f"current: {head}" in text and "up to date" in text
    assert "already at" in ok("db", "upgrade")


def test_an_old_store_is_refused_until_upgraded(ok: Ok, cli: Invoke, old_store: str) -> None:
    assert_user_error(cli("--uri", old_store, "runs", "list"), "treadle db upgrade")
    text = ok("--uri", old_store, "db", "current")
    assert "current: 0001" in text and "treadle db upgrade" in text
    assert f"from 0001 to {head_revision()}" in ok("--uri", old_store, "db", "upgrade")
    assert "No runs match." in ok("--uri", old_store, "runs", "list")


def test_db_needs_a_database_uri(cli: Invoke) -> None:
    assert_user_error(cli("--uri", "http://127.0.0.1:8765", "db", "upgrade"), "works on a database")
    assert_user_error(cli("--uri", "http://127.0.0.1:8765", "db", "current"), "works on a database")
