"""Prometheus metrics for the inference server, on a registry of its own.

Counters and histograms are updated on the request path (requests by endpoint, version, variant
and status code; errors; latency; batch sizes; shadow agreement). Gauges that describe state —
replicas, in-flight requests, queue depth, readiness — are read from the registered endpoints at
scrape time, so nothing has to remember to update them. Each server gets its own
``CollectorRegistry`` so two servers in one process (tests, graphs) never share counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServingMetrics:
    """The server's metrics. ``register_endpoint`` reads, at each scrape, the endpoint's ``name``,
    ``version`` and (where it has them) ``replicas``, ``inflight``, ``queue_depth`` and ``ready``;
    ``register_sink`` reads a request sink's ``dropped`` count."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ["endpoint", "version", "variant"]
        self.requests = Counter(
            "treadle_serving_requests", "Inference requests answered.", [*labels, "code"], registry=self.registry
        )
        self.errors = Counter(
            "treadle_serving_errors",
            "Inference requests that failed (kind: client = 4xx, model = the model raised, server = other 5xx).",
            [*labels, "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "treadle_serving_request_duration_seconds",
            "Time from request to answer, seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "treadle_serving_batch_size",
            "Rows per model call (adaptive batching merges requests).",
            ["endpoint"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.shadows = Counter(
            "treadle_serving_shadow_requests",
            "Requests mirrored to a shadow model, by whether its answer agreed with the primary's.",
            ["endpoint", "agreed"],
            registry=self.registry,
        )
        self._endpoints: dict[int, Any] = {}
        self._sinks: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.registry.register(_StateCollector(self))

    def observe(self, endpoint: str, version: str, latency_s: float, status: int, variant: str | None = None) -> None:
        """One answered request: counts it by status code and records its latency."""
        v = variant or ""
        self.requests.labels(endpoint, version, v, str(status)).inc()
        self.latency.labels(endpoint, version, v).observe(latency_s)
        if status >= 400:
            kind = "client" if status < 500 else ("model" if status == 500 else "server")
            self.errors.labels(endpoint, version, v, kind).inc()

    def observe_batch(self, endpoint: str, size: int) -> None:
        self.batch.labels(endpoint).observe(size)

    def shadow(self, endpoint: str, agreed: bool) -> None:
        self.shadows.labels(endpoint, "true" if agreed else "false").inc()

    def register_endpoint(self, endpoint: Any) -> None:
        with self._lock:
            self._endpoints[id(endpoint)] = endpoint

    def unregister_endpoint(self, endpoint: Any) -> None:
        with self._lock:
            self._endpoints.pop(id(endpoint), None)

    def register_sink(self, sink: Any) -> None:
        with self._lock:
            self._sinks[id(sink)] = sink

    def endpoints(self) -> list[Any]:
        with self._lock:
            return list(self._endpoints.values())

    def sinks(self) -> list[Any]:
        with self._lock:
            return list(self._sinks.values())

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Gauges read from the live endpoints at scrape time."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "replicas": GaugeMetricFamily(
                "treadle_serving_replicas", "Replicas serving the model version.", labels=["endpoint", "version"]
            ),
            "inflight": GaugeMetricFamily(
                "treadle_serving_inflight_requests", "Requests being predicted now.", labels=["endpoint", "version"]
            ),
            "queue_depth": GaugeMetricFamily(
                "treadle_serving_queue_depth", "Requests waiting for a replica.", labels=["endpoint", "version"]
            ),
            "ready": GaugeMetricFamily(
                "treadle_serving_ready", "1 when the model is loaded and answering.", labels=["endpoint", "version"]
            ),
        }
        for endpoint in self._metrics.endpoints():
            labels = [str(getattr(endpoint, "name", "")), str(getattr(endpoint, "version", ""))]
            for attr, family in gauges.items():
                try:
                    value = getattr(endpoint, attr, None)
                except Exception:  # an endpoint between executors: skip rather than fail the scrape
                    value = None
                if value is not None:
                    family.add_metric(labels, float(value))
        yield from gauges.values()
        dropped = CounterMetricFamily(
            "treadle_serving_request_log_dropped", "Log records dropped because the request log's queue was full."
        )
        dropped.add_metric([], float(sum(int(getattr(s, "dropped", 0)) for s in self._metrics.sinks())))
        yield dropped
