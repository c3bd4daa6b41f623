"""Monitors conformance: monitors and their specs, windows recorded once with a cursor that only
moves forward, alert hysteresis with its outbox events, labels joined through the request-log
index, and rival runners recording one window once. Every backend (SQLite, PostgreSQL, HTTP) runs
it with a ``client`` fixture."""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

import pytest

from treadle import Client
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.monitors import (
    AlertRule,
    ColumnDrift,
    MonitorSpec,
    QualityReport,
    ReferenceInfo,
    WindowReport,
)


def _name(prefix: str = "mon") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _spec(name: str, *rules: AlertRule, **kw: Any) -> MonitorSpec:
    return MonitorSpec(name=name, deployment=kw.pop("deployment", "dep"), alerts=list(rules), **kw)


def _window(name: str, i: int, share: float | None = 0.0, **kw: Any) -> WindowReport:
    return WindowReport(monitor=name, start_ms=i * 1000, end_ms=(i + 1) * 1000, rows=100, drift_share=share, **kw)


def _reference() -> ReferenceInfo:
    return ReferenceInfo(dataset="ref", version=1, rows=500, columns={"x": "numeric"}, profile_digest="d" * 64)


def _events(client: Client, name: str, after: int) -> list[tuple[str, dict[str, Any]]]:
    page = client.events.read(after=after, limit=10_000)
    return [(e.kind, e.payload) for e in page.events if e.subject == name]


def _cursor(client: Client) -> int:
    cursor = 0
    while True:
        page = client.events.read(after=cursor, limit=10_000)
        if not page.events:
            return cursor
        cursor = page.cursor


def test_create_get_list_delete(client: Client) -> None:
    name = _name()
    created = client.monitors.create_monitor(_spec(name, AlertRule(name="drift", metric="drift_share", threshold=0.3)))
    assert created.spec.alerts[0].threshold == 0.3 and created.reference is None and created.cursor_ms is None
    assert client.monitors.get_monitor(name) == created
    assert name in [m.name for m in client.monitors.list_monitors()]
    assert [s.state for s in client.monitors.alert_states(name)] == ["ok"]  # before any window
    client.monitors.delete_monitor(name)
    with pytest.raises(NotFound, match=f"monitor '{name}' does not exist"):
        client.monitors.get_monitor(name)
    with pytest.raises(NotFound, match=name):
        client.monitors.delete_monitor(name)


def test_bad_specs_are_refused(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name))
    with pytest.raises(AlreadyExists, match="replace"):
        client.monitors.create_monitor(_spec(name))
    with pytest.raises(InvalidArgument, match="invalid monitor name"):
        client.monitors.create_monitor(_spec("bad name!"))
    with pytest.raises(InvalidArgument, match="unknown alert metric 'latency'"):
        client.monitors.create_monitor(_spec(_name(), AlertRule(name="a", metric="latency", threshold=1)))
    with pytest.raises(InvalidArgument, match=r"quality\.<field>"):
        client.monitors.create_monitor(_spec(_name(), AlertRule(name="a", metric="quality.nope", threshold=1)))
    rule = AlertRule(name="a", metric="drift_share", threshold=0.5)
    with pytest.raises(InvalidArgument, match="two alert rules named 'a'"):
        client.monitors.create_monitor(_spec(_name(), rule, rule))
    for op in (client.monitors.get_monitor, client.monitors.alert_states, client.monitors.list_windows):
        with pytest.raises(NotFound, match="treadle monitor list"):
            op(_name())


def test_replace_keeps_windows_and_drops_removed_rules(client: Client) -> None:
    name = _name()
    keep = AlertRule(name="keep", metric="drift_share", threshold=0.3)
    gone = AlertRule(name="gone", metric="drift_share", threshold=0.1)
    client.monitors.create_monitor(_spec(name, keep, gone))
    client.monitors.set_reference(name, _reference())
    client.monitors.record_window(_window(name, 0, 0.9), cursor_ms=1000)
    new = AlertRule(name="new", metric="drift_share", threshold=0.5)
    replaced = client.monitors.create_monitor(_spec(name, keep, new, interval_s=5), replace=True)
    assert replaced.spec.interval_s == 5 and replaced.cursor_ms == 1000
    assert replaced.reference == _reference()  # same data: the reference stays
    assert len(client.monitors.list_windows(name)) == 1
    states = {s.rule: s.state for s in client.monitors.alert_states(name)}
    assert states == {"keep": "firing", "new": "ok"}
    moved = client.monitors.create_monitor(_spec(name, keep, deployment="other"), replace=True)
    assert moved.reference is None  # another deployment: the old reference no longer applies


def test_enable_disable_reference_and_due(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name, interval_s=60))
    assert name not in client.monitors.due_monitors()  # no reference yet
    with_ref = client.monitors.set_reference(name, _reference())
    assert with_ref.reference == _reference()
    assert name in client.monitors.due_monitors()  # never ran
    client.monitors.record_window(_window(name, 0), cursor_ms=1000)
    last = client.monitors.get_monitor(name).last_run_at
    assert last is not None
    assert name not in client.monitors.due_monitors(now_ms=last + 59_000)
    assert name in client.monitors.due_monitors(now_ms=last + 60_000)
    assert client.monitors.set_monitor_enabled(name, False).spec.enabled is False
    assert name not in client.monitors.due_monitors(now_ms=last + 600_000)
    assert client.monitors.set_monitor_enabled(name, True).spec.enabled is True
    assert name in client.monitors.due_monitors(now_ms=last + 600_000)
    with pytest.raises(NotFound):
        client.monitors.set_monitor_enabled(_name(), True)


def test_windows_are_recorded_once_and_the_cursor_only_moves_forward(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name, AlertRule(name="d", metric="drift_share", threshold=0.3)))
    first = client.monitors.record_window(_window(name, 1, 0.9), cursor_ms=2000, cursor_id="r9")
    assert first.fired == ["d"] and first.created_at > 0
    again = client.monitors.record_window(_window(name, 1, 0.0, note="second"), cursor_ms=2000, cursor_id="r9")
    assert again == first  # the first recording, not the second
    client.monitors.record_window(_window(name, 0, 0.0), cursor_ms=1000, cursor_id="r1")  # a late runner
    mon = client.monitors.get_monitor(name)
    assert (mon.cursor_ms, mon.cursor_id) == (2000, "r9")
    client.monitors.record_window(_window(name, 2, 0.0), cursor_ms=3000)
    assert client.monitors.get_monitor(name).cursor_ms == 3000
    assert [w.end_ms for w in client.monitors.list_windows(name)] == [1000, 2000, 3000]
    assert [w.end_ms for w in client.monitors.list_windows(name, since_ms=2000)] == [2000, 3000]
    assert [w.end_ms for w in client.monitors.list_windows(name, until_ms=2000)] == [1000, 2000]
    assert [w.end_ms for w in client.monitors.list_windows(name, limit=2)] == [2000, 3000]
    with pytest.raises(InvalidArgument, match="limit"):
        client.monitors.list_windows(name, limit=0)
    with pytest.raises(InvalidArgument, match="start_ms <= end_ms"):
        client.monitors.record_window(WindowReport(monitor=name, start_ms=5, end_ms=4, rows=1), cursor_ms=5)
    with pytest.raises(NotFound):
        client.monitors.record_window(_window(_name(), 0), cursor_ms=1)


def test_errors_are_noted_and_cleared_by_the_next_window(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name))
    failed = client.monitors.record_error(name, "column 'x' is missing from the request log")
    assert failed.last_error is not None and "'x'" in failed.last_error and failed.cursor_ms is None
    assert client.monitors.record_window(_window(name, 0), cursor_ms=1000).rows == 100
    assert client.monitors.get_monitor(name).last_error is None


def test_alerts_fire_and_clear_with_hysteresis(client: Client) -> None:
    name = _name()
    rule = AlertRule(name="drift", metric="drift_share", threshold=0.3, for_windows=2, clear_windows=2)
    client.monitors.create_monitor(_spec(name, rule, deployment="churn"))
    after = _cursor(client)
    shares = [0.5, 0.1, 0.5, 0.6, 0.7, 0.1, 0.5, 0.1, 0.1, 0.1]
    fired, cleared = [], []
    for i, share in enumerate(shares):
        w = client.monitors.record_window(_window(name, i, share), cursor_ms=(i + 1) * 1000)
        fired += [i] if w.fired else []
        cleared += [i] if w.cleared else []
    assert fired == [3] and cleared == [8]  # 2 breaches in a row to fire, 2 passes in a row to clear
    events = _events(client, name, after)
    assert [k for k, _ in events] == ["drift_detected", "alert_cleared"]
    payload = events[0][1]
    assert payload == {
        "monitor": name,
        "deployment": "churn",
        "rule": "drift",
        "metric": "drift_share",
        "value": 0.6,
        "threshold": 0.3,
        "window_start_ms": 3000,
        "window_end_ms": 4000,
    }
    (state,) = client.monitors.alert_states(name)
    assert (state.state, state.passes, state.since_ms, state.value) == ("ok", 3, 9000, 0.1)


def test_clear_threshold_and_missing_metrics(client: Client) -> None:
    name = _name()
    rule = AlertRule(name="d", metric="drift_share", threshold=0.5, clear_threshold=0.2)
    client.monitors.create_monitor(_spec(name, rule))
    seq: list[float | None] = [0.6, None, 0.4, 0.3, None, 0.1]
    results = [client.monitors.record_window(_window(name, i, v), cursor_ms=i) for i, v in enumerate(seq)]
    assert [bool(w.fired) for w in results] == [True, False, False, False, False, False]
    assert [bool(w.cleared) for w in results] == [False] * 5 + [True]  # only once back under 0.2
    states = client.monitors.alert_states(name)
    assert states[0].state == "ok"


def test_event_kinds_follow_the_metric(client: Client) -> None:
    name = _name()
    rules = [
        AlertRule(name="acc", metric="performance.accuracy", op="<", threshold=0.8),
        AlertRule(name="est", metric="estimated.f1", op="<", threshold=0.8),
        AlertRule(name="miss", metric="missing_share", threshold=0.1),
        AlertRule(name="oor", metric="quality.out_of_range", threshold=0.2),
        AlertRule(name="col", metric="drift.age", threshold=0.1),
        AlertRule(name="pred", metric="prediction_drift", threshold=0.1, event="data_quality"),
    ]
    client.monitors.create_monitor(_spec(name, *rules))
    after = _cursor(client)
    col = ColumnDrift(column="age", kind="numeric", test="wasserstein", statistic=0.4, threshold=0.1, drifted=True)
    pred = ColumnDrift(
        column="prediction", kind="categorical", test="jensenshannon", statistic=0.3, threshold=0.1, drifted=True
    )
    quality = QualityReport(rows=100, missing_share=0.25, out_of_range={"age": 0.3, "income": 0.0})
    report = _window(
        name,
        0,
        0.5,
        columns=[col],
        prediction=pred,
        quality=quality,
        performance={"accuracy": 0.6},
        estimated={"f1": 0.7},
    )
    done = client.monitors.record_window(report, cursor_ms=1000)
    assert sorted(done.fired) == sorted(r.name for r in rules)
    kinds = {p["rule"]: k for k, p in _events(client, name, after)}
    assert kinds == {
        "acc": "performance_degraded",
        "est": "performance_degraded",
        "miss": "data_quality",
        "oor": "data_quality",
        "col": "drift_detected",
        "pred": "data_quality",
    }
    values = {s.rule: s.value for s in client.monitors.alert_states(name)}
    assert values == {"acc": 0.6, "est": 0.7, "miss": 0.25, "oor": 0.3, "col": 0.4, "pred": 0.3}


def test_non_finite_values_round_trip(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name, AlertRule(name="c", metric="drift.x", threshold=1.0)))
    detail = {"edges": [-math.inf, 0.0, math.inf], "reference": [1, 2]}
    col = ColumnDrift(
        column="x", kind="numeric", test="psi", statistic=math.inf, threshold=1.0, drifted=True, detail=detail
    )
    nan_col = ColumnDrift(
        column="y", kind="numeric", test="ks", statistic=math.nan, threshold=0.05, drifted=False, note="constant"
    )
    done = client.monitors.record_window(_window(name, 0, 0.5, columns=[col, nan_col]), cursor_ms=1000)
    assert done.fired == ["c"]
    (stored,) = client.monitors.list_windows(name)
    assert stored.columns[0].statistic == math.inf and stored.columns[0].detail["edges"][0] == -math.inf
    assert stored.columns[1].statistic is not None and math.isnan(stored.columns[1].statistic)
    assert client.monitors.alert_states(name)[0].value == math.inf


def test_rival_runners_record_a_window_once_and_fire_once(client: Client) -> None:
    name = _name()
    client.monitors.create_monitor(_spec(name, AlertRule(name="d", metric="drift_share", threshold=0.3)))
    after = _cursor(client)
    results: list[WindowReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def runner() -> None:
        try:
            barrier.wait()
            results.append(client.monitors.record_window(_window(name, 0, 0.9), cursor_ms=1000))
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert len(client.monitors.list_windows(name)) == 1
    assert [k for k, _ in _events(client, name, after)] == ["drift_detected"]
    assert client.monitors.alert_states(name)[0].breaches == 1


def test_labels_join_requests_through_the_log_index(client: Client) -> None:
    endpoint, other = _name("ep"), _name("ep")
    ids = [f"{endpoint}-{i}" for i in range(5)]
    digest = uuid.uuid4().hex * 2
    client.rollout.add_log_part(
        endpoint, digest, 10, 5, 1000, 1004, request_ids=ids, request_times=list(range(1000, 1005))
    )
    client.rollout.add_log_part(
        endpoint, digest, 10, 5, 1000, 1004, request_ids=ids, request_times=list(range(1000, 1005))
    )
    logged = client.monitors.log_labels([*ids[:3], "nope"], [1, 0.5, "yes", True])
    assert (logged.accepted, logged.updated, logged.unknown) == (3, 0, ["nope"])
    again = client.monitors.log_labels(ids[:4], [0, 0, 0, False], endpoint=endpoint)
    assert (again.accepted, again.updated, again.unknown) == (4, 3, [])
    labels = client.monitors.get_labels(endpoint, [*ids, "nope"])
    assert labels == {ids[0]: 0, ids[1]: 0, ids[2]: 0, ids[3]: False}
    with pytest.raises(InvalidArgument, match=f"none of the 1 request ids is in a request log of endpoint '{other}'"):
        client.monitors.log_labels(ids[:1], [1], endpoint=other)
    with pytest.raises(InvalidArgument, match="none of the 2 request ids"):
        client.monitors.log_labels(["x1", "x2"], [1, 2])
    with pytest.raises(InvalidArgument, match="one label per request id"):
        client.monitors.log_labels(ids[:2], [1])
    with pytest.raises(InvalidArgument, match="NaN and infinite"):
        client.monitors.log_labels(ids[:1], [math.nan])
    with pytest.raises(InvalidArgument, match="strings, numbers or booleans"):
        client.monitors.log_labels(ids[:1], [[1, 2]])
    with pytest.raises(InvalidArgument, match="one time"):
        client.rollout.add_log_part(endpoint, "f" * 64, 1, 1, 1, 1, request_ids=["a"], request_times=[])
    assert client.monitors.get_labels(endpoint, ids[:1]) == {ids[0]: 0}  # refused calls stored nothing


def test_count_labels_over_a_span(client: Client) -> None:
    endpoint, other = _name("ep"), _name("ep")
    ids = [f"{endpoint}-{i}" for i in range(6)]
    times = [1000, 1000, 1001, 1002, 1005, 1010]
    for digest in (uuid.uuid4().hex * 2, uuid.uuid4().hex * 2):  # the same requests indexed twice count once
        client.rollout.add_log_part(endpoint, digest, 10, 6, 1000, 1010, request_ids=ids, request_times=times)
    client.rollout.add_log_part(other, uuid.uuid4().hex * 2, 10, 1, 1000, 1000, request_ids=["o"], request_times=[1])
    assert client.monitors.count_labels(endpoint, 0, 2000) == 0
    client.monitors.log_labels([ids[0], ids[1], ids[3], ids[5]], [1, 0, 1, 0], endpoint=endpoint)
    client.monitors.log_labels(["o"], [1], endpoint=other)
    assert client.monitors.count_labels(endpoint, 0, 2000) == 4
    assert client.monitors.count_labels(endpoint, 1000, 1000) == 2  # both ends inclusive
    assert client.monitors.count_labels(endpoint, 1001, 1005) == 1
    assert client.monitors.count_labels(endpoint, 1010, 1010) == 1
    assert client.monitors.count_labels(endpoint, 1011, 5000) == 0
    client.monitors.log_labels([ids[0]], [0], endpoint=endpoint)  # a corrected label is still one label
    assert client.monitors.count_labels(endpoint, 0, 2000) == 4
    assert client.monitors.count_labels(other, 0, 2000) == 1
    assert client.monitors.count_labels(_name("ep"), 0, 2000) == 0
    with pytest.raises(InvalidArgument, match="since_ms <= until_ms"):
        client.monitors.count_labels(endpoint, 2000, 1000)


def test_late_performance_steps_performance_rules_once_per_window(client: Client) -> None:
    name = _name()
    acc = AlertRule(name="acc", metric="performance.accuracy", op="<", threshold=0.8)
    drift = AlertRule(name="drift", metric="drift_share", threshold=0.3)
    client.monitors.create_monitor(_spec(name, acc, drift, deployment="churn"))
    after = _cursor(client)
    recorded = client.monitors.record_window(_window(name, 0, 0.0), cursor_ms=1000)  # no labels yet
    assert recorded.performance is None and recorded.fired == []

    late = client.monitors.update_window_performance(name, 0, 1000, 40, {"accuracy": 0.6, "f1": 0.5}, 40)
    assert (late.labelled, late.labels_counted, late.performance) == (40, 40, {"accuracy": 0.6, "f1": 0.5})
    assert late.fired == ["acc"] and late.drift_share == 0.0 and late.created_at == recorded.created_at
    (stored,) = client.monitors.list_windows(name)
    assert stored == late
    events = _events(client, name, after)
    assert [k for k, _ in events] == ["performance_degraded"]
    assert events[0][1] == {
        "monitor": name,
        "deployment": "churn",
        "rule": "acc",
        "metric": "performance.accuracy",
        "value": 0.6,
        "threshold": 0.8,
        "window_start_ms": 0,
        "window_end_ms": 1000,
    }
    states = {s.rule: s for s in client.monitors.alert_states(name)}
    assert (states["acc"].state, states["acc"].breaches, states["acc"].value) == ("firing", 1, 0.6)
    assert (states["drift"].state, states["drift"].passes) == ("ok", 1)  # stepped by the recording only

    # More labels refresh the numbers; the window was observed once, so nothing steps or clears.
    again = client.monitors.update_window_performance(name, 0, 1000, 100, {"accuracy": 0.95}, 100)
    assert again.performance == {"accuracy": 0.95} and again.labelled == 100 and again.fired == ["acc"]
    assert again.cleared == []
    kept = client.monitors.update_window_performance(name, 0, 1000, 100, None)  # unscorable: numbers stay
    assert (kept.performance, kept.labels_counted) == ({"accuracy": 0.95}, 100)
    assert [k for k, _ in _events(client, name, after)] == ["performance_degraded"]
    states = {s.rule: s for s in client.monitors.alert_states(name)}
    assert (states["acc"].state, states["acc"].breaches, states["acc"].value) == ("firing", 1, 0.6)

    # A window recorded with its performance was observed then: a late update does not step it again.
    with_labels = _window(name, 1, 0.0, labelled=100, performance={"accuracy": 0.9})
    assert client.monitors.record_window(with_labels, cursor_ms=2000).cleared == ["acc"]
    client.monitors.update_window_performance(name, 1000, 2000, 100, {"accuracy": 0.1})
    assert {s.rule: s.state for s in client.monitors.alert_states(name)}["acc"] == "ok"
    assert [k for k, _ in _events(client, name, after)] == ["performance_degraded", "alert_cleared"]

    with pytest.raises(NotFound, match=r"no window \[5000, 6000\]"):
        client.monitors.update_window_performance(name, 5000, 6000, 1, {"accuracy": 1.0})
    with pytest.raises(NotFound, match="treadle monitor list"):
        client.monitors.update_window_performance(_name(), 0, 1000, 1, {"accuracy": 1.0})
    with pytest.raises(InvalidArgument, match="labelled >= 0"):
        client.monitors.update_window_performance(name, 0, 1000, -1, {"accuracy": 1.0})


def test_late_performance_follows_hysteresis_in_arrival_order(client: Client) -> None:
    name = _name()
    rule = AlertRule(name="acc", metric="performance.accuracy", op="<", threshold=0.8, for_windows=2)
    client.monitors.create_monitor(_spec(name, rule))
    client.monitors.record_window(_window(name, 0), cursor_ms=1000)
    second = client.monitors.record_window(_window(name, 1, performance={"accuracy": 0.5}), cursor_ms=2000)
    assert second.fired == []  # one breach of two
    late = client.monitors.update_window_performance(name, 0, 1000, 10, {"accuracy": 0.7})
    assert late.fired == ["acc"]  # the second breach, observed when its labels came
    (state,) = client.monitors.alert_states(name)
    assert (state.state, state.breaches, state.since_ms) == ("firing", 2, 1000)
