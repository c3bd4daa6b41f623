"""The gate: value and change thresholds per metric and slice -> a blessing (TFMA's model validation).

Direction comes from the metric (:data:`treadle.evaluation._metrics.HIGHER_IS_BETTER`): a change
is an *improvement* when it goes the better way, so ``min_change=0.0`` reads "no worse than the
baseline" for accuracy and rmse alike. Without a baseline the change thresholds are not applied
and the blessing says so.
"""

from __future__ import annotations

import math
from typing import Any

from treadle.errors import InvalidArgument
from treadle.evaluation._metrics import higher_is_better
from treadle.evaluation._records import MIN_SLICE_ROWS, OVERALL, Blessing, Check, SliceMetrics, Threshold


def compare(candidate: dict[str, float], baseline: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """Per shared metric: both values, the raw change and the change relative to the baseline."""
    out: dict[str, dict[str, float | None]] = {}
    for name, value in candidate.items():
        if name not in baseline:
            continue
        base = baseline[name]
        change = value - base
        relative = change / abs(base) if base != 0 and math.isfinite(base) else None
        out[name] = {"candidate": value, "baseline": base, "change": change, "relative_change": relative}
    return out


def parse_thresholds(thresholds: dict[str, Threshold | dict[str, Any]] | None) -> dict[str, Threshold]:
    if not thresholds:
        return {}
    if not isinstance(thresholds, dict):
        raise InvalidArgument(
            "thresholds is a dict of metric -> Threshold (or dict), e.g. {'accuracy': {'lower': 0.8}}"
        )
    return {str(metric): Threshold.parse(t) for metric, t in thresholds.items()}


def _targets(threshold: Threshold, slices: dict[str, SliceMetrics], reasons: list[str], metric: str) -> list[str]:
    """The slice labels (``overall`` included) a threshold applies to, noting skipped small ones."""
    if threshold.slices == "overall":
        return [OVERALL]
    wanted: list[str] = [OVERALL, *slices] if threshold.slices == "all" else list(threshold.slices)
    out: list[str] = []
    for label in wanted:
        if label == OVERALL:
            out.append(label)
        elif label not in slices:
            raise InvalidArgument(
                f"threshold on {metric!r} names slice {label!r}, which the data has not; slices: {sorted(slices)}"
            )
        elif not slices[label].gated:
            reasons.append(f"slice {label} has {slices[label].rows} rows (< {MIN_SLICE_ROWS}): {metric} not gated")
        else:
            out.append(label)
    return out


def gate(
    thresholds: dict[str, Threshold],
    metrics: dict[str, float],
    slices: dict[str, SliceMetrics],
    baseline: dict[str, float] | None,
    *,
    model: str | None = None,
    baseline_model: str | None = None,
) -> Blessing:
    """Check every threshold where it applies; passed when every check passed."""
    checks: list[Check] = []
    reasons: list[str] = []
    has_change = any(t.min_change is not None or t.min_relative_change is not None for t in thresholds.values())
    if has_change and baseline is None:
        reasons.append("no baseline (no champion yet): change thresholds not applied")
    for metric, threshold in thresholds.items():
        if metric not in metrics:
            raise InvalidArgument(
                f"threshold on {metric!r}, which this evaluation does not compute; it has {sorted(metrics)}"
            )
        for label in _targets(threshold, slices, reasons, metric):
            value = metrics[metric] if label == OVERALL else slices[label].metrics.get(metric, float("nan"))
            base = baseline if label == OVERALL else (slices[label].baseline if baseline is not None else None)
            checks.extend(_value_checks(metric, label, value, threshold))
            if base is not None and metric in base:
                checks.extend(_change_checks(metric, label, value, base[metric], threshold))
    failed = [c for c in checks if not c.passed]
    reasons.extend(c.message for c in failed)
    return Blessing(passed=not failed, checks=checks, reasons=reasons, model=model, baseline=baseline_model)


def _value_checks(metric: str, label: str, value: float, t: Threshold) -> list[Check]:
    out = []
    where = "" if label == OVERALL else f" on {label}"
    if t.lower is not None:
        ok = math.isfinite(value) and value >= t.lower
        out.append(
            Check(
                metric,
                label,
                "lower",
                value,
                t.lower,
                ok,
                f"{metric}{where} {value:.4g} {'>=' if ok else '<'} lower bound {t.lower}",
            )
        )
    if t.upper is not None:
        ok = math.isfinite(value) and value <= t.upper
        out.append(
            Check(
                metric,
                label,
                "upper",
                value,
                t.upper,
                ok,
                f"{metric}{where} {value:.4g} {'<=' if ok else '>'} upper bound {t.upper}",
            )
        )
    return out


def _change_checks(metric: str, label: str, value: float, base: float, t: Threshold) -> list[Check]:
    out = []
    where = "" if label == OVERALL else f" on {label}"
    better = value - base if higher_is_better(metric) else base - value  # > 0: improved
    if t.min_change is not None:
        ok = math.isfinite(better) and better >= t.min_change
        out.append(
            Check(
                metric,
                label,
                "min_change",
                better,
                t.min_change,
                ok,
                f"{metric}{where} improves on the baseline by {better:.4g} "
                f"({'>=' if ok else '<'} min_change {t.min_change}; {value:.4g} vs {base:.4g})",
            )
        )
    if t.min_relative_change is not None:
        relative = better / abs(base) if base != 0 else (0.0 if better == 0 else math.copysign(math.inf, better))
        ok = not math.isnan(relative) and relative >= t.min_relative_change
        out.append(
            Check(
                metric,
                label,
                "min_relative_change",
                relative,
                t.min_relative_change,
                ok,
                f"{metric}{where} relative improvement {relative:.4g} "
                f"({'>=' if ok else '<'} min_relative_change {t.min_relative_change})",
            )
        )
    return out


_OPS = (">=", "<=", ">", "<")


def parse_threshold_expr(expr: str) -> tuple[str, dict[str, Any]]:
    """``accuracy>=0.8`` / ``rmse<=3`` (value bounds) and ``f1:change>=0`` / ``f1:relative_change>=-0.01``
    (change thresholds), as the CLI's ``--threshold`` takes them."""
    for op in _OPS:
        if op in expr:
            left, _, right = expr.partition(op)
            break
    else:
        raise InvalidArgument(f"bad threshold {expr!r}: use metric>=value, metric<=value or metric:change>=value")
    try:
        number = float(right.strip())
    except ValueError:
        raise InvalidArgument(f"bad threshold {expr!r}: {right.strip()!r} is not a number") from None
    metric, _, kind = left.strip().partition(":")
    if not metric:
        raise InvalidArgument(f"bad threshold {expr!r}: no metric name")
    if kind in ("change", "relative_change"):
        if op not in (">=", ">"):
            raise InvalidArgument(f"bad threshold {expr!r}: change thresholds are minimums (use >=)")
        return metric, {("min_change" if kind == "change" else "min_relative_change"): number}
    if kind:
        raise InvalidArgument(f"bad threshold {expr!r}: after ':' use change or relative_change")
    return metric, {"lower" if op.startswith(">") else "upper": number}
