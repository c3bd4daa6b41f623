"""Engines and transactions for SQLite and PostgreSQL.

SQLite gets WAL, a busy timeout and foreign keys, and write transactions start with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of failing with
"database is locked" when a read transaction tries to upgrade. Reads use a second engine
with plain ``BEGIN`` so they never wait for writers (WAL readers see a snapshot).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from treadle.errors import InvalidArgument
from treadle.store._stats import SQLITE_ANALYSIS_LIMIT, PlannerStats, analyze

SQLITE_BUSY_TIMEOUT_MS = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def is_sql_uri(uri: str) -> bool:
    return uri.startswith(("sqlite:", "postgresql"))


def _normalise(uri: str) -> str:
    # Accept the short forms users type and pick the driver we ship.
    if uri.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def _sqlite_engine(uri: str, *, immediate: bool) -> Engine:
    url = make_url(uri)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        raise InvalidArgument("in-memory SQLite cannot be shared between connections; use a file path")
    engine = create_engine(uri, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling defers it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _create_workspace_schema(engine: Engine) -> None:
    # A workspace on PostgreSQL is a schema named by the URI's search_path (see store._workspaces).
    options = str(engine.url.query.get("options", ""))
    match = re.search(r"search_path=(ws_[a-z0-9_]+)", options)
    if match:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{match.group(1)}"')


class Store:
    """A metadata database: ``read()`` and ``write()`` yield a connection inside a transaction.

    Thread safe; one ``Store`` per process and URI is enough. Opening checks the schema:
    an empty database is migrated to the newest revision, an older one raises
    :class:`~treadle.errors.SchemaOutOfDate` telling the user to run ``treadle db upgrade``.
    """

    def __init__(self, uri: str, *, check_schema: bool = True) -> None:
        self.uri = _normalise(uri)
        try:
            self.dialect = make_url(self.uri).get_backend_name()
        except Exception as exc:
            raise InvalidArgument(f"not a database URI: {uri!r} ({exc})") from exc
        if self.dialect == "sqlite":
            self._write_engine = _sqlite_engine(self.uri, immediate=True)
            self._read_engine = _sqlite_engine(self.uri, immediate=False)
        elif self.dialect == "postgresql":
            self._write_engine = create_engine(self.uri, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self._read_engine = self._write_engine
            _create_workspace_schema(self._write_engine)
        else:
            raise InvalidArgument(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://")
        self._lock = threading.Lock()
        self._stats: PlannerStats | None = None
        if check_schema:
            from treadle.store._migrate import ensure_current

            ensure_current(self)
        if self.dialect == "sqlite":
            with self._read_engine.connect() as conn:
                analyzed = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
            self._stats = PlannerStats(analyzed is not None, self.analyze)

    @property
    def engine(self) -> Engine:
        return self._write_engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._stats is None:
            with self._write_engine.begin() as conn:
                yield conn
            return
        with self._write_engine.begin() as conn:
            before = _total_changes(conn)
            yield conn
            changed = _total_changes(conn) - before
        self._stats.count(changed)

    def analyze(self) -> None:
        """Refresh the query planner's statistics (SQLite; PostgreSQL's autovacuum keeps its own)."""
        if self.dialect == "sqlite":
            with self.write() as conn:
                analyze(conn)
            # A connection reads the statistics when it loads the schema, and ANALYZE does not make
            # others reload it: pooled connections are replaced (those in use are, when returned).
            self._read_engine.dispose()
            self._write_engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._read_engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self._write_engine.dispose()
        self._read_engine.dispose()

    def __repr__(self) -> str:
        return f"Store({make_url(self.uri).render_as_string(hide_password=True)!r})"


def _total_changes(conn: Connection) -> int:
    return int(conn.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]
