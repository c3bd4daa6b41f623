"""Alert rules: which number of a window a rule reads, and the hysteresis that turns windows into
firing/cleared transitions.

A rule *fires* after ``for_windows`` consecutive breaching windows and *clears* after
``clear_windows`` consecutive passing ones; with ``clear_threshold`` a window passes only once its
value is back across that threshold (a value between the two thresholds neither breaches nor
passes, so a metric hovering at the edge does not flap). A window without the metric (too small to
test, no labels yet) changes nothing; a window whose labels arrive later steps the ``performance.*``
rules then, once (``MonitorService.update_window_performance``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from treadle.errors import InvalidArgument
from treadle.monitors._records import AlertRule, MonitorSpec, QualityReport, WindowReport

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_PLAIN = ("drift_share", "prediction_drift", "missing_share")
_PREFIXES = ("drift.", "quality.", "performance.", "estimated.")
_QUALITY_FIELDS = frozenset(QualityReport.model_fields)
_QUALITY_MAPS = ("missing", "non_finite", "out_of_range")  # quality.<field>.<column> reads one column
METRIC_HELP = (
    "drift_share, prediction_drift, drift.<column>, missing_share, quality.<field>, "
    "performance.<metric> or estimated.<metric>"
)


def check_rules(spec: MonitorSpec) -> None:
    """Refuse rules that could never evaluate: unknown metrics, duplicate names, NaN thresholds."""
    seen: set[str] = set()
    for rule in spec.alerts:
        if not rule.name or len(rule.name) > 256:
            raise InvalidArgument(f"alert rule names have 1-256 characters, got {rule.name[:300]!r}")
        if rule.name in seen:
            raise InvalidArgument(f"monitor {spec.name!r} has two alert rules named {rule.name!r}; name each once")
        seen.add(rule.name)
        check_metric(rule.metric)
        for what, value in (("threshold", rule.threshold), ("clear_threshold", rule.clear_threshold)):
            if value is not None and not math.isfinite(value):
                raise InvalidArgument(f"alert rule {rule.name!r}: {what} must be a finite number, got {value}")
        _check_clear_side(rule)


def _check_clear_side(rule: AlertRule) -> None:
    """A clear threshold on the breaching side of the threshold would mean no hysteresis at all."""
    clear = rule.clear_threshold
    if clear is None:
        return
    above = rule.op in (">", ">=")
    if (above and clear > rule.threshold) or (not above and clear < rule.threshold):
        side = "at or below" if above else "at or above"
        raise InvalidArgument(
            f"alert rule {rule.name!r}: clear_threshold {clear} must be {side} the threshold {rule.threshold} "
            f"(it fires when {rule.metric} {rule.op} {rule.threshold} and clears once the value is back past it)"
        )


def check_metric(metric: str) -> None:
    if metric in _PLAIN:
        return
    prefix, _, rest = metric.partition(".")
    if f"{prefix}." not in _PREFIXES or not rest:
        raise InvalidArgument(f"unknown alert metric {metric!r}: use {METRIC_HELP}")
    if prefix == "quality":
        field = rest.split(".", 1)[0]
        if field not in _QUALITY_FIELDS:
            raise InvalidArgument(
                f"unknown quality metric {metric!r}: quality.<field> takes one of {', '.join(sorted(_QUALITY_FIELDS))}"
            )


def event_kind(rule: AlertRule) -> str:
    """The outbox kind a firing rule emits: its own ``event``, else by the metric's family."""
    if rule.event is not None:
        return rule.event
    if rule.metric.startswith(("performance.", "estimated.")):
        return "performance_degraded"
    if rule.metric == "missing_share" or rule.metric.startswith("quality."):
        return "data_quality"
    return "drift_detected"


def metric_value(report: WindowReport, metric: str) -> float | None:
    """The number ``metric`` names in ``report``; None when the window does not have it (or it is NaN)."""
    value = _lookup(report, metric)
    if value is None:
        return None
    number = float(value)
    return number if not math.isnan(number) else None


def _lookup(report: WindowReport, metric: str) -> float | None:
    if metric == "drift_share":
        return report.drift_share
    if metric == "prediction_drift":
        return None if report.prediction is None else report.prediction.statistic
    if metric == "missing_share":
        return None if report.quality is None else report.quality.missing_share
    prefix, _, rest = metric.partition(".")
    if prefix == "drift":
        col = next((c for c in report.columns if c.column == rest), None)
        return None if col is None else col.statistic
    if prefix in ("performance", "estimated"):
        values = report.performance if prefix == "performance" else report.estimated
        return None if values is None else values.get(rest)
    if prefix == "quality" and report.quality is not None:
        return _quality(report.quality, rest)
    return None


def _quality(q: QualityReport, rest: str) -> float | None:
    field, _, column = rest.partition(".")
    value = getattr(q, field, None)
    if isinstance(value, dict):
        if column:  # quality.missing.<column>: that column's number (or count of unseen values)
            one = value.get(column)
            return None if one is None else float(len(one) if isinstance(one, list) else one)
        if field in _QUALITY_MAPS:  # the worst column
            return max((float(v) for v in value.values()), default=0.0)
        return float(sum(len(v) if isinstance(v, list) else 1 for v in value.values()))  # how many
    if isinstance(value, list):
        return float(len(value))
    if isinstance(value, int | float) and not column:
        return float(value)
    return None


@dataclass(frozen=True)
class Step:
    """An alert's counters after one window, and whether it changed state with it."""

    state: str
    breaches: int
    passes: int
    fired: bool = False
    cleared: bool = False


def step(rule: AlertRule, state: str, breaches: int, passes: int, value: float | None) -> Step:
    """The hysteresis of one rule over one more window (module docstring)."""
    if value is None:
        return Step(state, breaches, passes)
    compare = _OPS[rule.op]
    if compare(value, rule.threshold):
        breaches += 1
        if state == "ok" and breaches >= rule.for_windows:
            return Step("firing", breaches, 0, fired=True)
        return Step(state, breaches, 0)
    back = rule.clear_threshold is None or not compare(value, rule.clear_threshold)
    if not back:  # between the thresholds: neither breaching nor passing
        return Step(state, 0, 0)
    passes += 1
    if state == "firing" and passes >= rule.clear_windows:
        return Step("ok", 0, passes, cleared=True)
    return Step(state, 0, passes)
