"""Emitting and reading domain events."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Connection

from treadle.errors import InvalidArgument
from treadle.events._store import insert_event, select_events
from treadle.ops import Service, operation
from treadle.records import Record
from treadle.store import Store


class Event(Record):
    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    created_at: int


class EventPage(Record):
    events: list[Event]
    cursor: int  # pass back as ``after`` to continue


def emit(conn: Connection, kind: str, subject: str, **payload: Any) -> int:
    """Record an event in the caller's transaction, so it exists if and only if the change does."""
    return insert_event(conn, kind, subject, payload)


class EventService(Service):
    """Read the outbox in order with a cursor (``after`` = the last id seen)."""

    capability: ClassVar[str] = "events"

    def __init__(self, store: Store) -> None:
        self._store = store

    @operation
    def read(self, after: int = 0, kinds: list[str] | None = None, limit: int = 100) -> EventPage:
        """Events with id > ``after``, oldest first, optionally only of ``kinds``."""
        if limit < 1 or limit > 10_000:
            raise InvalidArgument(f"limit must be between 1 and 10000, got {limit}")
        with self._store.read() as conn:
            rows = select_events(conn, after, kinds, limit)
        events = [Event.model_validate(dict(row._mapping)) for row in rows]
        return EventPage(events=events, cursor=events[-1].id if events else after)
