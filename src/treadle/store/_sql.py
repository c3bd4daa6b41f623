"""Small dialect-aware helpers shared by capability queries."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_*`` on both SQLite and PostgreSQL."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: Table) -> Any:
    """:func:`dialect_insert` by dialect name, for statements built once and cached."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def per_dialect(build: Callable[[str], T]) -> Callable[[Connection], T]:
    """Cache a statement builder per dialect: hot paths then skip SQLAlchemy's statement construction
    (an upsert's ``excluded`` alias alone costs ~0.5 ms to build), and the compiled form is cached too."""
    cached = functools.cache(build)

    def get(conn: Connection) -> T:
        return cached(conn.dialect.name)

    return get


# At most this many values in one driver statement's IN list: under SQLite's default limit of
# 32,766 parameters and PostgreSQL's 65,535, with room for a statement's other parameters.
MAX_IN_LIST = 10_000


@functools.lru_cache(maxsize=256)
def placeholders(paramstyle: str, count: int) -> str:
    """``?,?,?`` (SQLite) or ``%s,%s,%s`` (psycopg): positional parameter marks for driver SQL."""
    return ",".join(["?" if paramstyle == "qmark" else "%s"] * count)


def driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
    """Rows of driver SQL as the driver returns them, in ``conn``'s transaction.

    For hot reads of thousands of small rows (a search page's params, tags and latest metrics):
    SQLAlchemy's result machinery (``Row`` objects, type processing, IN-list expansion) costs as
    much again as the database's own work there. The SQL must use :func:`placeholders`; values come
    back as the driver gives them (SQLite: booleans as 0/1).
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)  # a list or tuple as it is: no copy of a 6,000-value insert
        return cursor.fetchall()
    finally:
        cursor.close()


def rows_for_ids(conn: Connection, select_from: str, column: str, ids: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``SELECT ... FROM table WHERE column IN (ids)`` through :func:`driver_rows`, in chunks of
    :data:`MAX_IN_LIST`. ``select_from`` is the statement up to its WHERE (``SELECT a, b FROM t``)."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), MAX_IN_LIST):
        chunk = ids[start : start + MAX_IN_LIST]
        marks = placeholders(conn.dialect.paramstyle, len(chunk))
        rows += driver_rows(conn, f"{select_from} WHERE {column} IN ({marks})", chunk)
    return rows
