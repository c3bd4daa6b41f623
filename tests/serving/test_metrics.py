"""``/metrics`` read back with Prometheus' own text parser: counters move with the traffic served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving import deploy_support
from tests.serving.conftest import INLINE, serving_url
from treadle.client import Client
from treadle.rollout._spec import BatchingSpec, ModelSpec
from treadle.serving._metrics import ServingMetrics
from treadle.serving._model import ModelEndpoint


class ListSink(deploy_support.ListSink):
    """Keeps every record; reports a fixed number of drops to check the gauge wiring."""

    @property
    def dropped(self) -> int:
        return 3


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def metered(serving_client: Client, echo_model_dir: Path) -> Iterator[tuple[str, ListSink]]:
    metrics = ServingMetrics()
    cancer = ModelEndpoint(
        ModelSpec(
            name="cancer",
            uri="models:/cancer/1",
            replicas=INLINE,
            batching=BatchingSpec(max_batch_size=16, max_latency_ms=2),
        ),
        serving_client,
        metrics=metrics,
    )
    echo = ModelEndpoint(
        ModelSpec(name="echo", uri=str(echo_model_dir), replicas=INLINE), serving_client, metrics=metrics
    )
    sink = ListSink()
    with serving_url([cancer, echo], metrics=metrics, sink=sink) as (url, _):
        yield url, sink


def _rows(X: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "x", "shape": list(X.shape), "datatype": "FP64", "data": X.to_numpy().ravel().tolist()}]
    }


def test_requests_errors_latency_and_batches_are_counted(metered: tuple[str, ListSink], cancer_data: Any) -> None:
    url, _ = metered
    X = cancer_data[0].iloc[:4]
    before = scrape(url)
    for _ in range(5):
        assert httpx.post(f"{url}/v2/models/cancer/infer", json=_rows(X)).status_code == 200
    bad = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    assert httpx.post(f"{url}/v2/models/cancer/infer", json=bad).status_code == 400
    boom = {
        "inputs": [
            {"name": "boom", "shape": [1], "datatype": "INT8", "data": [1]},
            {"name": "a", "shape": [1], "datatype": "INT8", "data": [1]},
        ]
    }
    assert httpx.post(f"{url}/v2/models/echo/infer", json=boom).status_code == 500
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"endpoint": "cancer", "version": "1", "variant": ""}
    assert delta("treadle_serving_requests_total", **ok, code="200") == 5
    assert delta("treadle_serving_requests_total", **ok, code="400") == 1
    assert delta("treadle_serving_errors_total", **ok, kind="client") == 1
    assert delta("treadle_serving_errors_total", endpoint="echo", version="1", variant="", kind="model") == 1
    assert delta("treadle_serving_request_duration_seconds_count", **ok) == 6
    assert delta("treadle_serving_request_duration_seconds_sum", **ok) > 0
    assert delta("treadle_serving_request_duration_seconds_bucket", **ok, le="+Inf") == 6
    assert delta("treadle_serving_batch_size_count", endpoint="cancer") >= 5  # the 400 never reaches the model
    assert delta("treadle_serving_batch_size_sum", endpoint="cancer") >= 20


def test_state_gauges_are_read_at_scrape_time(metered: tuple[str, ListSink]) -> None:
    samples = scrape(metered[0])
    for name in ("cancer", "echo"):
        labels = {"endpoint": name, "version": "1"}
        assert value(samples, "treadle_serving_ready", **labels) == 1
        assert value(samples, "treadle_serving_replicas", **labels) == 1
        assert value(samples, "treadle_serving_inflight_requests", **labels) == 0
        assert ("treadle_serving_queue_depth", tuple(sorted(labels.items()))) in samples
    assert value(samples, "treadle_serving_request_log_dropped_total") == 3


def test_every_request_reaches_the_sink(metered: tuple[str, ListSink], cancer_data: Any) -> None:
    url, sink = metered
    X = cancer_data[0].iloc[:2]
    r = httpx.post(f"{url}/v2/models/cancer/infer", json={**_rows(X), "id": "logged-1"})
    assert r.status_code == 200
    record = next(rec for rec in sink.records if rec.id == "logged-1")
    assert record.endpoint == "cancer" and record.model_version == "1" and record.status == 200
    assert record.inputs["x"].shape == (2, 30)
    assert record.outputs is not None and record.outputs["predict"].shape == (2,)
    assert record.latency_ms > 0 and record.route == "primary" and record.error is None


def test_shadow_counts() -> None:
    metrics = ServingMetrics()
    metrics.shadow("churn", agreed=True)
    metrics.shadow("churn", agreed=False)
    metrics.shadow("churn", agreed=False)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics.render().decode())
        for s in f.samples
    }
    assert value(samples, "treadle_serving_shadow_requests_total", endpoint="churn", agreed="false") == 2
    assert value(samples, "treadle_serving_shadow_requests_total", endpoint="churn", agreed="true") == 1
