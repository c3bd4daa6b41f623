"""The domain-event outbox: capabilities emit inside their write transaction; readers follow a cursor."""

from treadle.events._service import Event, EventPage, EventService, emit

__all__ = ["Event", "EventPage", "EventService", "emit"]
