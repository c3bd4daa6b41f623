"""Small dialect-aware helpers shared by capability queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_*`` on both SQLite and PostgreSQL."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)
