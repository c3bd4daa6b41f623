"""Alembic plumbing: the migration history ships inside the package."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from treadle.errors import SchemaOutOfDate

if TYPE_CHECKING:
    from treadle.store._engine import Store


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "treadle.store:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str]:
    """Migrate ``store`` to ``revision``; returns (from, to). Safe to run from many processes."""
    with store.write() as conn:
        if store.dialect == "postgresql":
            # Serialise concurrent first opens; SQLite's BEGIN IMMEDIATE already does.
            conn.execute(text("SELECT pg_advisory_xact_lock(7301)"))
        before = current_revision(conn)
        command.upgrade(_config(conn), revision)
        after = current_revision(conn)
    assert after is not None
    return before, after


def ensure_current(store: Store) -> None:
    head = head_revision()
    with store.read() as conn:
        current = current_revision(conn)
    if current == head:
        return
    if current is None:  # a new, empty store: create the schema
        upgrade(store)
        return
    scripts = ScriptDirectory.from_config(_config())
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current not in known:
        raise SchemaOutOfDate(
            f"the store at {store!r} has schema revision {current}, newer than this treadle "
            f"(head {head}); upgrade the treadle package"
        )
    raise SchemaOutOfDate(
        f"the store at {store!r} is at schema revision {current} but this treadle needs {head}; "
        "run `treadle db upgrade` (back up the database first)"
    )
