"""Records of model monitoring: monitor specs, per-window reports, alert rules and states, labels.

They cross every boundary (SDK, HTTP, CLI, UI). The drift engine that fills a :class:`WindowReport`
lives in :mod:`treadle.monitoring` (above the client); this package only keeps the state.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from treadle.records import Record

ColumnKind = Literal["numeric", "categorical", "embedding", "text"]
Task = Literal["classification", "regression"]
AlertOp = Literal[">", ">=", "<", "<="]
AlertEvent = Literal["drift_detected", "performance_degraded", "data_quality"]


class WindowSpec(Record):
    """How the request log is cut into *current* windows: by time (``seconds``) or by ``rows``.

    A window is evaluated once it is complete (its end has passed / it has ``rows`` rows); a window
    with fewer than ``min_rows`` rows is recorded as empty (no drift verdict) rather than tested."""

    kind: Literal["time", "count"] = "count"
    seconds: int | None = Field(default=None, ge=1)
    rows: int | None = Field(default=1000, ge=1)
    min_rows: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _sized(self) -> WindowSpec:
        if self.kind == "time" and self.seconds is None:
            raise ValueError("a time window needs seconds")
        if self.kind == "count" and self.rows is None:
            raise ValueError("a count window needs rows")
        return self


class DriftConfig(Record):
    """Which test each column gets and when the dataset counts as drifted (Evidently's defaults)."""

    tests: dict[str, str] = {}  # column -> test name (ks, chisquare, z, wasserstein, jensenshannon, psi, ...)
    thresholds: dict[str, float] = {}  # column -> threshold of its test (p-value or distance)
    default_numeric: str | None = None  # None: ks for references <= 1000 rows, wasserstein above
    default_categorical: str | None = None  # None: chisquare (z for two categories) <= 1000, jensenshannon above
    drift_share: float = Field(default=0.5, gt=0, le=1)  # share of drifted columns = dataset drift
    correction: Literal["fdr"] | None = None  # Benjamini-Hochberg over the columns' p-values


class AlertRule(Record):
    """Fires when ``metric`` compares ``op`` ``threshold`` in ``for_windows`` consecutive windows;
    clears after ``clear_windows`` consecutive windows that do not (hysteresis), or — with
    ``clear_threshold`` — only once the value is back on the other side of that threshold.

    ``metric``: ``drift_share``, ``prediction_drift`` (the prediction column's statistic),
    ``drift.<column>`` (that column's statistic), ``missing_share``, ``quality.<check>``,
    ``performance.<metric>`` (with labels) or ``estimated.<metric>`` (CBPE)."""

    name: str
    metric: str
    op: AlertOp = ">"
    threshold: float
    for_windows: int = Field(default=1, ge=1)
    clear_windows: int = Field(default=1, ge=1)
    clear_threshold: float | None = None
    event: AlertEvent | None = None  # default: drift_detected for drift metrics, performance_degraded for performance


class MonitorSpec(Record):
    """What to watch: a deployment's request log (``deployment``) against a reference dataset.

    ``reference_dataset``/``reference_version``: the reference; None finds it through lineage (the
    dataset version the served model was trained on). ``model``: the model URI whose training data is
    the reference and whose predictions are profiled (default: the deployment's control model)."""

    name: str
    deployment: str
    model: str | None = None
    reference_dataset: str | None = None
    reference_version: int | str | None = None
    target: str | None = None  # the label column of the reference (not a feature)
    features: list[str] | None = None  # default: every reference column but the target
    categorical: list[str] | None = None  # default: inferred (strings, booleans, categories)
    task: Task = "classification"
    window: WindowSpec = Field(default_factory=WindowSpec)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alerts: list[AlertRule] = []
    interval_s: int = Field(default=60, ge=1)  # how often the scheduler runs it
    enabled: bool = True


class ReferenceInfo(Record):
    """The reference a monitor compares against, and where its stored profile is."""

    dataset: str | None = None
    version: int | None = None
    rows: int
    columns: dict[str, ColumnKind]  # feature -> kind
    prediction: ColumnKind | None = None  # the prediction column's kind, when profiled
    profile_digest: str  # blob of the serialised reference profile
    profile_size: int = 0
    found_by: Literal["given", "lineage"] = "given"
    # the registry version the reference was profiled for ("models:/churn/3"): a lineage-found
    # reference is profiled again once the monitored model (e.g. its @champion) resolves to another
    model_version: str | None = None


class Monitor(Record):
    name: str
    spec: MonitorSpec
    reference: ReferenceInfo | None = None
    cursor_ms: int | None = None  # end of the last evaluated window (request time, epoch ms)
    cursor_id: str | None = None  # with count windows: the last request id taken at cursor_ms
    created_at: int
    updated_at: int
    last_run_at: int | None = None
    last_error: str | None = None


class ColumnDrift(Record):
    column: str
    kind: ColumnKind
    test: str
    statistic: float | None = None  # the distance, or the test statistic
    p_value: float | None = None  # p-value tests only
    threshold: float
    drifted: bool
    detail: dict[str, Any] = {}  # e.g. {"edges": [...], "reference": [...], "current": [...]} for drill-down
    note: str | None = None  # why no verdict (constant column, all missing, ...)


class QualityReport(Record):
    rows: int
    missing: dict[str, float] = {}  # column -> share missing (NaN/None)
    non_finite: dict[str, int] = {}  # column -> count of +-inf
    out_of_range: dict[str, float] = {}  # numeric column -> share outside the reference [min, max]
    unseen_categories: dict[str, list[str]] = {}  # categorical column -> values never seen in the reference
    missing_columns: list[str] = []
    extra_columns: list[str] = []
    type_errors: dict[str, str] = {}  # column -> what was wrong
    missing_share: float = 0.0  # share of missing cells over the monitored columns


class WindowReport(Record):
    monitor: str
    start_ms: int
    end_ms: int
    rows: int
    drift_share: float | None = None  # None: window too small to test
    dataset_drift: bool = False
    columns: list[ColumnDrift] = []
    prediction: ColumnDrift | None = None
    quality: QualityReport | None = None
    labelled: int = 0
    performance: dict[str, float] | None = None  # real metrics over the labelled rows
    # Labels of the window's requests when its performance was last computed (the runner scores the
    # window again once ``count_labels`` over its span says more have arrived); None: not counted.
    labels_counted: int | None = None
    estimated: dict[str, float] | None = None  # CBPE estimates (classifiers with probabilities)
    note: str | None = None
    # Count windows: the request ids at their bounds, so the window's rows can be read again exactly
    # (rows from (start_ms, first_id) to (end_ms, last_id) in (time, request id) order).
    first_id: str | None = None
    last_id: str | None = None
    fired: list[str] = []  # alert rules that fired with this window (or with its late labels)
    cleared: list[str] = []
    created_at: int = 0


class AlertState(Record):
    monitor: str
    rule: str
    state: Literal["ok", "firing"]
    breaches: int  # consecutive windows breaching
    passes: int  # consecutive windows not breaching
    value: float | None = None  # the metric in the last window
    since_ms: int | None = None  # when it last changed state
    updated_at: int


class LabelsLogged(Record):
    accepted: int
    updated: int  # of the accepted, how many replaced an earlier label
    unknown: list[str] = []  # request ids not in any request log (not stored)
