"""A firing alert reaches a subscriber: the window's drift_detected event is delivered by webhook."""

from __future__ import annotations

import json
from pathlib import Path

from tests.registry.test_webhooks import Receiver, _verify
from treadle.client import Client
from treadle.monitors import AlertRule, MonitorSpec, WindowReport


def test_a_firing_alert_is_delivered_to_a_webhook(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "art"))
    rule = AlertRule(name="drift", metric="drift_share", threshold=0.3)
    client.monitors.create_monitor(MonitorSpec(name="churn-live", deployment="churn", alerts=[rule]))
    receiver = Receiver()
    try:
        hook = client.webhooks.create_webhook(receiver.url, ["drift_detected", "alert_cleared"])
        quiet = WindowReport(monitor="churn-live", start_ms=0, end_ms=1_000, rows=500, drift_share=0.1)
        drifted = WindowReport(monitor="churn-live", start_ms=1_000, end_ms=2_000, rows=500, drift_share=0.6)
        assert client.monitors.record_window(quiet, 1_000).fired == []
        assert client.monitors.record_window(drifted, 2_000).fired == ["drift"]
        assert client.webhooks.deliver_pending() == 1
        [(headers, body)] = receiver.requests
        _verify(hook.secret or "", headers, body)
        event = json.loads(body)
        assert event["kind"] == "drift_detected" and event["subject"] == "churn-live"
        assert event["payload"]["rule"] == "drift" and event["payload"]["value"] == 0.6
        assert event["payload"]["deployment"] == "churn" and event["payload"]["window_end_ms"] == 2_000
    finally:
        receiver.close()
