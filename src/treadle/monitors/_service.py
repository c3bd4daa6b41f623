"""The monitoring state service: monitors, their windows, alert states (with hysteresis) and labels.

Computation (profiles, drift tests, quality, performance) happens in :mod:`treadle.monitoring`,
wherever a monitor is run; this service keeps what it found, moves each monitor's cursor, decides
alert transitions and emits ``drift_detected`` / ``performance_degraded`` events — the window, the
cursor, the alert states and the events in one transaction, so a crash or a rival runner never
records a window twice or fires an alert without its window.
"""

from __future__ import annotations

from typing import Any, ClassVar

from treadle.monitors import _tables as t  # noqa: F401  (registers the tables)
from treadle.monitors._records import AlertState, LabelsLogged, Monitor, MonitorSpec, ReferenceInfo, WindowReport
from treadle.ops import Service, operation
from treadle.store import Store


class MonitorService(Service):
    capability: ClassVar[str] = "monitors"

    def __init__(self, store: Store) -> None:
        self._store = store

    @operation
    def create_monitor(self, spec: MonitorSpec, replace: bool = False) -> Monitor:
        """Create a monitor (``replace``: overwrite the spec of an existing one, keeping its windows)."""
        raise NotImplementedError

    @operation
    def get_monitor(self, name: str) -> Monitor:
        raise NotImplementedError

    @operation
    def list_monitors(self) -> list[Monitor]:
        raise NotImplementedError

    @operation
    def delete_monitor(self, name: str) -> None:
        raise NotImplementedError

    @operation
    def set_monitor_enabled(self, name: str, enabled: bool) -> Monitor:
        raise NotImplementedError

    @operation
    def set_reference(self, name: str, reference: ReferenceInfo) -> Monitor:
        """Store the reference (and its profile's blob digest) the monitor compares against."""
        raise NotImplementedError

    @operation
    def record_window(self, report: WindowReport, cursor_ms: int, cursor_id: str | None = None) -> WindowReport:
        """Keep one evaluated window, move the cursor, update alert states and emit their events.

        Idempotent per (monitor, start_ms, end_ms): a window recorded twice is returned as first
        recorded. Returns the report with ``fired``/``cleared`` filled in."""
        raise NotImplementedError

    @operation
    def record_error(self, name: str, error: str) -> Monitor:
        """Note that a run failed (shown on the monitor's page); the cursor does not move."""
        raise NotImplementedError

    @operation
    def list_windows(
        self, name: str, since_ms: int | None = None, until_ms: int | None = None, limit: int = 500
    ) -> list[WindowReport]:
        """Windows ending in [since_ms, until_ms], oldest first (the latest ``limit``)."""
        raise NotImplementedError

    @operation
    def alert_states(self, name: str) -> list[AlertState]:
        raise NotImplementedError

    @operation
    def due_monitors(self, now_ms: int | None = None) -> list[str]:
        """Enabled monitors whose ``interval_s`` has passed since their last run."""
        raise NotImplementedError

    @operation
    def log_labels(self, request_ids: list[str], labels: list[Any], endpoint: str | None = None) -> LabelsLogged:
        """Ground truth for served requests; ids not in any request log come back in ``unknown``."""
        raise NotImplementedError

    @operation
    def get_labels(self, endpoint: str, request_ids: list[str]) -> dict[str, Any]:
        """request id -> label, for the ids that have one."""
        raise NotImplementedError
