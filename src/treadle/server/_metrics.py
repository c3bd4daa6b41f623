"""``GET /metrics``: monitoring gauges in Prometheus' text exposition format.

The numbers are read from the store at scrape time (a custom collector, no state kept in the
process), so every worker of a multi-worker server answers the same, and a monitor run by the
scheduler, by ``treadle monitor run`` or by another host shows up on the next scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from treadle.errors import NotFound
from treadle.monitors import MonitorService, WindowReport


class MonitorCollector(Collector):
    """Gauges from each monitor's latest window and its alert states."""

    def __init__(self, monitors: MonitorService) -> None:
        self._monitors = monitors

    def describe(self) -> list[Metric]:
        return []  # registering must not query the store

    def collect(self) -> Iterator[Metric]:
        g = _Gauges()
        for monitor in self._monitors.list_monitors():
            name = monitor.name
            try:
                states = self._monitors.alert_states(name)
                windows = self._monitors.list_windows(name, limit=1)
            except NotFound:  # deleted since the list was read: not a failed scrape
                continue
            for state in states:
                g.alert_firing.add_metric([name, state.rule], 1.0 if state.state == "firing" else 0.0)
            if windows:
                g.add_window(windows[0])
        yield from g.all()


class _Gauges:
    def __init__(self) -> None:
        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"treadle_monitor_{name}", doc, labels=["monitor", *labels])

        self.drift_share = gauge("drift_share", "Share of drifted columns in the monitor's latest window.")
        self.dataset_drift = gauge("dataset_drift", "1 when the latest window counts as dataset drift.")
        self.column_drift = gauge(
            "column_drift", "A column's drift test statistic (or distance), latest window.", "column"
        )
        self.column_drifted = gauge("column_drifted", "1 when the column drifted in the latest window.", "column")
        self.performance = gauge("performance", "A model metric over the latest window's labelled rows.", "metric")
        self.estimated = gauge("estimated_performance", "A model metric estimated without labels (CBPE).", "metric")
        self.missing_share = gauge("missing_share", "Share of missing cells over the monitored columns.")
        self.alert_firing = gauge("alert_firing", "1 while the alert rule is firing.", "rule")
        self.window_end = gauge("window_end_seconds", "End of the latest evaluated window (Unix time).")

    def add_window(self, w: WindowReport) -> None:
        name = w.monitor
        self.window_end.add_metric([name], w.end_ms / 1000)
        if w.drift_share is not None:
            self.drift_share.add_metric([name], w.drift_share)
            self.dataset_drift.add_metric([name], 1.0 if w.dataset_drift else 0.0)
        for col in [*w.columns, *([w.prediction] if w.prediction is not None else [])]:
            if col.statistic is not None:
                self.column_drift.add_metric([name, col.column], col.statistic)
                self.column_drifted.add_metric([name, col.column], 1.0 if col.drifted else 0.0)
        for metric, value in sorted((w.performance or {}).items()):
            self.performance.add_metric([name, metric], value)
        for metric, value in sorted((w.estimated or {}).items()):
            self.estimated.add_metric([name, metric], value)
        if w.quality is not None:
            self.missing_share.add_metric([name], w.quality.missing_share)

    def all(self) -> list[GaugeMetricFamily]:
        return [v for v in vars(self).values() if isinstance(v, GaugeMetricFamily)]


def metrics_router(monitors: MonitorService) -> APIRouter:
    """The ``/metrics`` route over ``monitors`` (one registry per app, not the process-global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitors))
    router = APIRouter(tags=["server"])

    # A plain ``def``: FastAPI runs it on a worker thread, so the store reads never block the loop.
    @router.get("/metrics", response_class=Response)
    def metrics() -> Any:
        """Monitoring gauges (drift, performance, alert states) in Prometheus' text format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
