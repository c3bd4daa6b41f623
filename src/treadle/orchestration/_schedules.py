"""The schedules service: cron, event, pipeline-success and webhook triggers, fires, leases."""

from __future__ import annotations

from typing import ClassVar

from treadle.ops import Service
from treadle.store import Store


class ScheduleService(Service):
    """Triggers of pipelines and the scheduler's bookkeeping (operations filled in by the triggers work)."""

    capability: ClassVar[str] = "schedules"

    def __init__(self, store: Store) -> None:
        self._store = store
