"""``GET /metrics``: the monitors' gauges in Prometheus' text format, read from the store at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from treadle import Client
from treadle.monitors import AlertRule, ColumnDrift, MonitorSpec, QualityReport, WindowReport
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("metrics")
    with serve(create_app(uri=f"sqlite:///{root / 's.db'}", artifacts=str(root / "art"))) as url:
        yield url


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    reply = httpx.get(f"{url}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_gauges_follow_the_latest_window_and_alert_states(server: str) -> None:
    client = Client(server)
    assert _scrape(server).get("treadle_monitor_drift_share", {}) == {}  # no monitors: no samples, still 200
    rules = [
        AlertRule(name="drift", metric="drift_share", threshold=0.3),
        AlertRule(name="acc", metric="performance.accuracy", op="<", threshold=0.8),
    ]
    client.monitors.create_monitor(MonitorSpec(name="churn", deployment="churn", alerts=rules))
    client.monitors.create_monitor(MonitorSpec(name="idle", deployment="other"))
    age = ColumnDrift(column="age", kind="numeric", test="wasserstein", statistic=0.25, threshold=0.1, drifted=True)
    city = ColumnDrift(
        column="city", kind="categorical", test="jensenshannon", statistic=0.01, threshold=0.1, drifted=False
    )
    old = WindowReport(monitor="churn", start_ms=0, end_ms=60_000, rows=500, drift_share=0.0, columns=[age])
    client.monitors.record_window(old, cursor_ms=60_000)
    latest = WindowReport(
        monitor="churn",
        start_ms=60_000,
        end_ms=120_000,
        rows=500,
        drift_share=0.5,
        dataset_drift=True,
        columns=[age, city],
        quality=QualityReport(rows=500, missing_share=0.02),
        performance={"accuracy": 0.91},
        estimated={"accuracy": 0.88, "f1": 0.8},
    )
    client.monitors.record_window(latest, cursor_ms=120_000)

    m = _scrape(server)
    churn = (("monitor", "churn"),)
    assert m["treadle_monitor_drift_share"] == {churn: 0.5}
    assert m["treadle_monitor_dataset_drift"] == {churn: 1.0}
    assert m["treadle_monitor_window_end_seconds"] == {churn: 120.0}
    assert m["treadle_monitor_missing_share"] == {churn: 0.02}
    assert m["treadle_monitor_column_drift"] == {
        (("column", "age"), ("monitor", "churn")): 0.25,
        (("column", "city"), ("monitor", "churn")): 0.01,
    }
    assert m["treadle_monitor_column_drifted"][(("column", "city"), ("monitor", "churn"))] == 0.0
    assert m["treadle_monitor_performance"] == {(("metric", "accuracy"), ("monitor", "churn")): 0.91}
    assert m["treadle_monitor_estimated_performance"][(("metric", "f1"), ("monitor", "churn"))] == 0.8
    assert m["treadle_monitor_alert_firing"] == {
        (("monitor", "churn"), ("rule", "drift")): 1.0,
        (("monitor", "churn"), ("rule", "acc")): 0.0,
    }

    # the next window clears the alert and a too-small window has no drift share: read at scrape time
    small = WindowReport(monitor="churn", start_ms=120_000, end_ms=180_000, rows=3, drift_share=0.0)
    client.monitors.record_window(small, cursor_ms=180_000)
    m = _scrape(server)
    assert m["treadle_monitor_alert_firing"][(("monitor", "churn"), ("rule", "drift"))] == 0.0
    assert m["treadle_monitor_drift_share"] == {churn: 0.0}
    assert m["treadle_monitor_window_end_seconds"] == {churn: 180.0}
    assert "treadle_monitor_performance" not in m


def test_a_monitor_deleted_during_the_scrape_is_skipped() -> None:
    from treadle.errors import NotFound
    from treadle.server._metrics import MonitorCollector

    class Racing:
        def list_monitors(self) -> list[object]:
            class M:
                name = "gone"

            return [M()]

        def alert_states(self, name: str) -> list[object]:
            raise NotFound(f"monitor {name!r} does not exist")

    families = list(MonitorCollector(Racing()).collect())  # type: ignore[arg-type]
    assert all(not f.samples for f in families)
