"""The outbox table and its queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Connection, Index, String, Table, func, insert, select

from treadle.store import metadata, now_ms, pk_bigint

events_table = Table(
    "events",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_events_kind_id", "kind", "id"),
)


_INSERT = insert(events_table)  # built once: this runs in most write transactions


def insert_event(conn: Connection, kind: str, subject: str, payload: dict[str, Any]) -> int:
    event = {"kind": kind, "subject": subject, "payload": payload, "created_at": now_ms()}
    result = conn.execute(_INSERT, event)
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def select_events(conn: Connection, after: int, kinds: Sequence[str] | None, limit: int) -> list[Any]:
    query = select(events_table).where(events_table.c.id > after).order_by(events_table.c.id).limit(limit)
    if kinds:
        query = query.where(events_table.c.kind.in_(list(kinds)))
    return list(conn.execute(query))


def latest_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(events_table.c.id), 0))).scalar_one())
