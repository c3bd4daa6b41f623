"""Alert rules over windows: the metric each rule reads, its event kind, and the hysteresis."""

from __future__ import annotations

import math

import pytest

from treadle.errors import InvalidArgument
from treadle.monitors import AlertRule, ColumnDrift, MonitorSpec, QualityReport, WindowReport
from treadle.monitors._alerts import check_rules, event_kind, metric_value, step


def _run(rule: AlertRule, values: list[float | None]) -> list[str]:
    """The state after each window, with F/C marking a fire/clear."""
    state, breaches, passes = "ok", 0, 0
    out = []
    for value in values:
        st = step(rule, state, breaches, passes, value)
        state, breaches, passes = st.state, st.breaches, st.passes
        out.append("F" if st.fired else "C" if st.cleared else state[0])
    return out


def test_fires_after_for_windows_consecutive_breaches() -> None:
    rule = AlertRule(name="r", metric="drift_share", threshold=0.3, for_windows=3)
    assert _run(rule, [0.5, 0.5, 0.1, 0.5, 0.5, 0.5, 0.9]) == ["o", "o", "o", "o", "o", "F", "f"]


def test_clears_after_clear_windows_consecutive_passes() -> None:
    rule = AlertRule(name="r", metric="drift_share", threshold=0.3, clear_windows=3)
    assert _run(rule, [0.5, 0.1, 0.1, 0.5, 0.1, 0.1, 0.1, 0.1]) == ["F", "f", "f", "f", "f", "f", "C", "o"]


def test_clear_threshold_needs_the_value_back_across_it() -> None:
    rule = AlertRule(name="r", metric="performance.accuracy", op="<", threshold=0.8, clear_threshold=0.9)
    # 0.85 no longer breaches but is not back above 0.9: still firing, no flapping at the edge
    assert _run(rule, [0.7, 0.85, 0.85, 0.95, 0.85, 0.7]) == ["F", "f", "f", "C", "o", "F"]


def test_a_window_without_the_metric_changes_nothing() -> None:
    rule = AlertRule(name="r", metric="drift_share", threshold=0.3, for_windows=2, clear_windows=2)
    assert _run(rule, [0.5, None, 0.5, 0.1, None, None, 0.1]) == ["o", "o", "F", "f", "f", "f", "C"]


@pytest.mark.parametrize(
    ("op", "value", "breach"),
    [(">", 0.3, False), (">=", 0.3, True), ("<", 0.3, False), ("<=", 0.3, True), ("<", 0.2, True)],
)
def test_operators_at_the_threshold(op: str, value: float, breach: bool) -> None:
    rule = AlertRule(name="r", metric="drift_share", op=op, threshold=0.3)  # type: ignore[arg-type]
    assert step(rule, "ok", 0, 0, value).fired is breach


def test_metric_lookup() -> None:
    cols = [
        ColumnDrift(column="age", kind="numeric", test="ks", statistic=0.2, p_value=0.01, threshold=0.05, drifted=True)
    ]
    quality = QualityReport(
        rows=10,
        missing={"age": 0.1, "city": 0.4},
        unseen_categories={"city": ["x", "y"]},
        missing_columns=["zip"],
        missing_share=0.25,
    )
    report = WindowReport(
        monitor="m",
        start_ms=0,
        end_ms=1,
        rows=10,
        drift_share=0.5,
        columns=cols,
        quality=quality,
        performance={"accuracy": 0.9, "bad": math.nan},
    )
    assert metric_value(report, "drift_share") == 0.5
    assert metric_value(report, "drift.age") == 0.2
    assert metric_value(report, "drift.nope") is None
    assert metric_value(report, "prediction_drift") is None
    assert metric_value(report, "missing_share") == 0.25
    assert metric_value(report, "quality.missing") == 0.4  # the worst column
    assert metric_value(report, "quality.missing.age") == 0.1
    assert metric_value(report, "quality.unseen_categories") == 2
    assert metric_value(report, "quality.unseen_categories.city") == 2
    assert metric_value(report, "quality.missing_columns") == 1
    assert metric_value(report, "quality.rows") == 10
    assert metric_value(report, "performance.accuracy") == 0.9
    assert metric_value(report, "performance.bad") is None  # NaN is no verdict
    assert metric_value(report, "estimated.accuracy") is None


def test_event_kinds_and_rule_checks() -> None:
    def kind(metric: str) -> str:
        return event_kind(AlertRule(name="r", metric=metric, threshold=1))

    assert kind("drift_share") == kind("prediction_drift") == kind("drift.x") == "drift_detected"
    assert kind("performance.f1") == kind("estimated.roc_auc") == "performance_degraded"
    assert kind("missing_share") == kind("quality.out_of_range") == "data_quality"
    rule = AlertRule(name="r", metric="drift_share", threshold=1, event="performance_degraded")
    assert event_kind(rule) == "performance_degraded"
    for metric in ("drift", "drift.", "latency", "performance"):
        with pytest.raises(InvalidArgument, match="unknown alert metric"):
            check_rules(MonitorSpec(name="m", deployment="d", alerts=[AlertRule(name="r", metric=metric, threshold=1)]))
    with pytest.raises(InvalidArgument, match="finite"):
        check_rules(
            MonitorSpec(
                name="m", deployment="d", alerts=[AlertRule(name="r", metric="drift_share", threshold=math.inf)]
            )
        )


def test_schedules_may_listen_to_every_alert_event() -> None:
    from treadle.orchestration._schedule_checks import check_events

    kinds = ["drift_detected", "performance_degraded", "data_quality", "alert_cleared"]
    assert check_events(kinds) == sorted(kinds)


@pytest.mark.parametrize(("op", "clear"), [(">", 0.4), ("<", 0.2)])
def test_a_clear_threshold_on_the_breaching_side_is_refused(op: str, clear: float) -> None:
    rule = AlertRule(name="r", metric="drift_share", op=op, threshold=0.3, clear_threshold=clear)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="clear_threshold"):
        check_rules(MonitorSpec(name="m", deployment="d", alerts=[rule]))
