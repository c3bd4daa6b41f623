"""The domain-event outbox: capabilities emit inside their write transaction; readers follow a cursor."""

from treadle.events._service import Event, EventPage, EventService, emit
from treadle.events._store import latest_event_id

__all__ = ["Event", "EventPage", "EventService", "emit", "latest_event_id"]
