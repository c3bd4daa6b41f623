"""Late labels end to end on the embedded store: labels logged after their window was recorded
become that window's real performance at the next run, fire ``performance.*`` alerts once per
window, and refresh the numbers as more arrive; count windows are read again exactly, batched
requests and time windows too, and a failing backfill never fails the run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

import treadle as td
from treadle.monitoring import _runner
from treadle.monitoring._runner import LOG_GRACE_MS

from .runner_support import DEPLOYMENT, FEATURES, frame, now_ms, record, served_model, served_records, write_log


def _events(name: str) -> list[tuple[str, dict[str, Any]]]:
    page = td.get_client().events.read(after=0, limit=10_000)
    return [(e.kind, e.payload) for e in page.events if e.subject == name]


def test_late_labels_fill_performance_fire_once_and_refresh() -> None:
    model = served_model()
    rule = {"name": "acc", "metric": "performance.accuracy", "op": "<", "threshold": 0.8}
    td.monitoring.create_monitor("late", DEPLOYMENT, target="label", window="200 rows", alerts=[rule])
    t0 = now_ms() + 10
    a, b = frame(200, seed=1), frame(200, seed=2)
    records = served_records(model, a, t0, "a") + served_records(model, b, t0 + 1000, "b")
    write_log(records)
    reports = td.monitoring.run_monitor("late", now_ms=t0 + 2000 + LOG_GRACE_MS)
    assert [(r.rows, r.labelled, r.performance) for r in reports] == [(200, 0, None), (200, 0, None)]
    assert [(r.first_id, r.last_id) for r in reports] == [("a-00000", "a-00199"), ("b-00000", "b-00199")]
    estimated = [r.estimated for r in reports]
    assert _events("late") == []

    # Ground truth for half of the first window arrives hours later: the next run scores it, and its
    # accuracy (0.74 on these rows) fires the alert.
    a_ids, b_ids = [r.id for r in records[:200]], [r.id for r in records[200:]]
    a_pred, b_pred = model.predict(a[FEATURES]), model.predict(b[FEATURES])
    td.monitoring.log_labels(a_ids[:100], a["label"][:100].to_numpy())
    assert td.monitoring.run_monitor("late", now_ms=t0 + 2000 + LOG_GRACE_MS) == []  # no new window
    first, second = td.monitoring.windows("late")
    expected = accuracy_score(a["label"][:100], a_pred[:100])
    assert expected < 0.8 and first.labelled == 100 and first.labels_counted == 100
    assert first.performance is not None and first.performance["accuracy"] == pytest.approx(expected)
    assert first.performance["f1"] > 0 and "roc_auc" in first.performance  # probabilities as at record time
    assert first.fired == ["acc"] and second.performance is None and second.labelled == 0
    assert [w.estimated for w in (first, second)] == estimated  # the rest of the report stays
    assert td.monitoring.get_monitor("late").last_error is None
    [(kind, payload)] = _events("late")
    assert kind == "performance_degraded" and payload["window_start_ms"] == t0
    assert payload["value"] == pytest.approx(expected)

    # More labels refresh the numbers; the window was observed once, so the rule does not step again.
    td.monitoring.log_labels(a_ids[100:], a["label"][100:].tolist())
    td.monitoring.run_monitor("late", now_ms=t0 + 2000 + LOG_GRACE_MS)
    first = td.monitoring.windows("late")[0]
    assert first.labelled == 200 and first.performance is not None
    assert first.performance["accuracy"] == pytest.approx(accuracy_score(a["label"], a_pred))
    assert [k for k, _ in _events("late")] == ["performance_degraded"]
    (state,) = td.get_client().monitors.alert_states("late")
    assert (state.state, state.breaches) == ("firing", 1) and state.value == pytest.approx(expected)

    # The second window's late labels agree with the model: a passing window clears the alert.
    td.monitoring.log_labels(b_ids[:100], b_pred[:100].tolist())
    td.monitoring.run_monitor("late", now_ms=t0 + 2000 + LOG_GRACE_MS)
    second = td.monitoring.windows("late")[1]
    assert second.performance is not None and second.performance["accuracy"] == 1.0
    assert second.cleared == ["acc"] and second.labelled == 100
    assert [k for k, _ in _events("late")] == ["performance_degraded", "alert_cleared"]


def test_count_windows_are_read_again_exactly_and_batches_count_by_request() -> None:
    """Windows that share a millisecond keep their own rows; a batched request's label covers its rows."""
    model = served_model()
    td.monitoring.create_monitor("exact", DEPLOYMENT, target="label", window="30 rows")
    data = frame(60, seed=3)
    x, pred = data[FEATURES].to_numpy(), model.predict(data[FEATURES])
    t0 = now_ms() + 10
    times = [t0] * 5 + [t0 + 1] * 10 + [t0 + 2] * 5  # 20 requests of 3 rows: the windows meet at t0 + 1
    records = [
        record(f"r{i:02d}", ms, {"input": x[3 * i : 3 * i + 3]}, {"predict": pred[3 * i : 3 * i + 3]})
        for i, ms in enumerate(times)
    ]
    write_log(records)
    td.monitoring.log_labels([r.id for r in records[:5]], [1] * 5)  # present when the first window is scored
    reports = td.monitoring.run_monitor("exact", now_ms=t0 + 100 + LOG_GRACE_MS)
    assert [(r.start_ms - t0, r.end_ms - t0, r.rows) for r in reports] == [(0, 1, 30), (1, 2, 30)]
    assert [(r.labelled, r.labels_counted) for r in reports] == [(15, 5), (0, 0)]

    # Every request labelled (its rows all take the label). The first window's span now has 15
    # labelled requests — no more than its 15 labelled rows, yet 10 more than it was scored with.
    labels = data["label"].to_numpy()[::3].tolist()
    td.monitoring.log_labels([r.id for r in records], labels)
    td.monitoring.run_monitor("exact", now_ms=t0 + 100 + LOG_GRACE_MS)
    first, second = td.monitoring.windows("exact")
    assert (first.labelled, second.labelled) == (30, 30)
    truth = np.repeat(labels, 3)
    for w, rows in ((first, slice(0, 30)), (second, slice(30, 60))):
        assert w.performance is not None
        assert w.performance["accuracy"] == pytest.approx(accuracy_score(truth[rows], pred[rows]))


def test_time_windows_take_their_late_labels_up_to_their_end() -> None:
    model = served_model()
    mon = td.monitoring.create_monitor("timed", DEPLOYMENT, target="label", window="10s")
    start = mon.created_at // 10_000 * 10_000 + 10_000
    data = frame(31, seed=4)
    records = served_records(model, data[:30], start + 1000, "t")
    records += served_records(model, data[30:], start + 10_000, "u")  # the next window's first millisecond
    write_log(records)
    reports = td.monitoring.run_monitor("timed", now_ms=start + 20_000 + LOG_GRACE_MS)
    assert [r.rows for r in reports if r.start_ms == start] == [30]
    td.monitoring.log_labels([r.id for r in records], data["label"].tolist())
    td.monitoring.run_monitor("timed", now_ms=start + 20_000 + LOG_GRACE_MS)
    by_start = {w.start_ms: w for w in td.monitoring.windows("timed")}
    window, nxt = by_start[start], by_start[start + 10_000]
    assert (window.labelled, nxt.labelled) == (30, 1)
    assert window.performance is not None and window.performance["accuracy"] == pytest.approx(
        accuracy_score(data["label"][:30], model.predict(data[FEATURES][:30]))
    )


def test_a_failing_backfill_is_noted_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    model = served_model()
    td.monitoring.create_monitor("noted", DEPLOYMENT, target="label", window="50 rows")
    t0 = now_ms() + 10
    records = served_records(model, frame(50, seed=5), t0, "n")
    write_log(records)
    assert len(td.monitoring.run_monitor("noted", now_ms=t0 + 100 + LOG_GRACE_MS)) == 1
    td.monitoring.log_labels([r.id for r in records], [1] * 50)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("blob store unreachable")

    monkeypatch.setattr(_runner, "window_log", broken)
    assert td.monitoring.run_monitor("noted", now_ms=t0 + 100 + LOG_GRACE_MS) == []
    error = td.monitoring.get_monitor("noted").last_error
    assert error is not None and "late labels not scored" in error and "blob store unreachable" in error
    (window,) = td.monitoring.windows("noted")
    assert window.performance is None and window.labelled == 0

    monkeypatch.undo()  # the next run scores it, and clears the note
    td.monitoring.run_monitor("noted", now_ms=t0 + 100 + LOG_GRACE_MS)
    (window,) = td.monitoring.windows("noted")
    assert window.labelled == 50 and window.performance is not None
    assert td.monitoring.get_monitor("noted").last_error is None
