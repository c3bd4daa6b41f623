"""What an evaluation produces: thresholds, the gate's checks, the blessing, the result."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from treadle.errors import InvalidArgument

SliceSelector = Literal["overall", "all"] | list[str]
OVERALL: Literal["overall"] = "overall"
MIN_SLICE_ROWS = 10  # smaller slices are reported but never gated: their metrics are noise


@dataclass(frozen=True)
class Threshold:
    """A gate on one metric, as TFMA's value and change thresholds.

    ``lower``/``upper``: bounds on the value. ``min_change``: the least absolute improvement over
    the baseline in the metric's better direction (0.0: "no worse"; -0.01: "at most 0.01 worse").
    ``min_relative_change``: the same relative to the baseline's value. Change thresholds apply only
    when there is a baseline. ``slices``: where it applies: ``"overall"`` (default), ``"all"``
    (overall and every slice with enough rows) or a list of slice labels (``"region=EU"``;
    ``"overall"`` may be one of them).
    """

    lower: float | None = None
    upper: float | None = None
    min_change: float | None = None
    min_relative_change: float | None = None
    slices: SliceSelector = OVERALL

    def __post_init__(self) -> None:
        bounds = (self.lower, self.upper, self.min_change, self.min_relative_change)
        if all(b is None for b in bounds):
            raise InvalidArgument("a threshold needs lower, upper, min_change or min_relative_change")
        for b in bounds:
            if b is not None and (not isinstance(b, int | float) or isinstance(b, bool) or math.isnan(b)):
                raise InvalidArgument(f"threshold bounds must be numbers, not {b!r}")
        if isinstance(self.slices, str) and self.slices not in ("overall", "all"):
            raise InvalidArgument(f"threshold slices must be 'overall', 'all' or a list of labels, not {self.slices!r}")

    @classmethod
    def parse(cls, value: Threshold | dict[str, Any]) -> Threshold:
        """A Threshold from itself or a dict of its fields (unknown keys are an error)."""
        if isinstance(value, Threshold):
            return value
        if not isinstance(value, dict):
            raise InvalidArgument(f"a threshold is a Threshold or a dict, not {type(value).__name__}")
        known = {"lower", "upper", "min_change", "min_relative_change", "slices"}
        unknown = set(value) - known
        if unknown:
            raise InvalidArgument(f"unknown threshold keys {sorted(unknown)}; use {sorted(known)}")
        slices = value.get("slices", OVERALL)
        if isinstance(slices, tuple):
            slices = list(slices)
        return cls(
            lower=value.get("lower"),
            upper=value.get("upper"),
            min_change=value.get("min_change"),
            min_relative_change=value.get("min_relative_change"),
            slices=slices,
        )


@dataclass(frozen=True)
class Check:
    """One comparison the gate made: ``kind`` is lower, upper, min_change or min_relative_change."""

    metric: str
    slice: str
    kind: str
    value: float | None
    bound: float
    passed: bool
    message: str


@dataclass(frozen=True)
class Blessing:
    """The gate's verdict; stored as ``evaluation/blessing.json`` and as model-version tags."""

    passed: bool
    checks: list[Check] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    model: str | None = None
    baseline: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SliceMetrics:
    """Metrics on one slice: ``label`` like ``region=EU`` (or ``region=EU, segment=b``)."""

    label: str
    rows: int
    metrics: dict[str, float]
    gated: bool  # False when it has fewer than MIN_SLICE_ROWS rows
    baseline: dict[str, float] | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`treadle.evaluation.evaluate` returns (and logs as ``evaluation/report.json``).

    ``comparison``: ``{"overall" | slice label: {metric: {candidate, baseline, change,
    relative_change}}}`` (empty without a baseline).
    """

    run_id: str | None
    task: str
    model: str | None
    model_version: int | None
    rows: int
    metrics: dict[str, float]
    slices: dict[str, SliceMetrics]
    baseline: dict[str, float] | None
    baseline_model: str | None
    comparison: dict[str, dict[str, dict[str, float | None]]]
    blessing: Blessing
    plots: list[str] = field(default_factory=list)
    explanations: dict[str, Any] | None = None
    dataset: str | None = None

    @property
    def passed(self) -> bool:
        return self.blessing.passed

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-able (NaN kept as None)."""
        return _clean(asdict(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in list(self.metrics.items())[:4])
        return f"<EvaluationResult {self.model or 'model'} {shown} passed={self.passed} run={self.run_id}>"


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
