"""``td.evaluate``: score a model on evaluation data, per slice, against a baseline, through a gate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from treadle.client import Client
from treadle.client import _fluent as fluent
from treadle.errors import InvalidArgument, NotFound
from treadle.evaluation import _log
from treadle.evaluation._data import ModelRef, Scored, feature_frame, resolve_data, resolve_model, score
from treadle.evaluation._explain_run import explain_model
from treadle.evaluation._gate import compare, gate, parse_thresholds
from treadle.evaluation._metrics import Task, compute
from treadle.evaluation._records import MIN_SLICE_ROWS, OVERALL, Blessing, EvaluationResult, SliceMetrics, Threshold
from treadle.evaluation._slices import SliceSpec, make_slices, slice_key
from treadle.tracking import RunStatus

TASKS = ("classification", "regression", "ranking")


def evaluate(
    model: Any,
    data: Any = None,
    *,
    targets: str,
    task: Task = "classification",
    slices: Sequence[SliceSpec] | SliceSpec | None = None,
    baseline: Any = None,
    thresholds: dict[str, Threshold | dict[str, Any]] | None = None,
    explain: bool | Literal["permutation", "shap"] = "permutation",
    explain_rows: int = 5,
    group: str | None = None,
    k: int = 10,
    name: str | None = None,
    experiment: str | None = None,
    client: Client | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` (a ``models:/``/``runs:/`` URI or a loaded model) on ``data`` (a DataFrame,
    a dataset version or ``"name@version"``) with ``targets`` as the label column.

    Computes the task's metrics overall and per slice (``slices``: column names, tuples of columns,
    ``{name: pandas query}``), scores ``baseline`` (e.g. ``"models:/x@champion"``; no such version
    yet: no comparison) on the same rows, applies ``thresholds`` (``{"accuracy": {"lower": 0.8},
    "f1": {"min_change": 0.0}}``) and records everything as one tracked run (nested under the
    active run or pipeline step), with plots and explanations (``explain``: ``"permutation"``,
    ``"shap"`` or False). A registry version is tagged with the blessing. Ranking: ``group`` is the
    query id column and ``k`` the cut-off. ``name``: the model's name in :func:`history` when it is
    not a registry version (a freshly trained candidate); ``experiment``: where the run goes
    (default: the active run's, the current one, else ``evaluations``).
    """
    if task not in TASKS:
        raise InvalidArgument(f"task must be one of {list(TASKS)}, not {task!r}")
    if task == "ranking" and not group:
        raise InvalidArgument("task='ranking' needs group=<the query id column>")
    checked = parse_thresholds(thresholds)  # bad thresholds fail before any work
    client = client or fluent.get_client()
    mref = resolve_model(client, model)
    dref = resolve_data(client, data)
    frame = dref.frame
    for column, what in ((targets, "targets"), (group, "group")):
        if column is not None and column not in frame.columns:
            raise InvalidArgument(
                f"{what} column {column!r} is not in the data; it has {[str(c) for c in frame.columns]}"
            )
    if len(frame) == 0:
        raise InvalidArgument("the evaluation data has no rows")
    y = frame[targets].to_numpy()
    if task != "classification":
        y = _numeric(y, targets)
    elif pd.isna(y).any():
        raise InvalidArgument(f"target column {targets!r} has missing values; drop or fill them first")
    groups = frame[group].to_numpy() if group else None
    drop = [c for c in (targets, group) if c]
    x = feature_frame(mref.model, frame, drop)
    scored = score(mref.model, x, task, y)
    metrics = _metrics(task, y, scored, groups, k, slice(None))
    picked = make_slices(frame, slices)
    per_slice = {
        s.label: SliceMetrics(
            s.label,
            len(s.rows),
            _metrics(task, y, scored, groups, k, s.rows) if len(s.rows) else {},  # an empty slice: no metrics
            len(s.rows) >= MIN_SLICE_ROWS,
        )
        for s in picked
    }
    base_ref, base_scored, base_note = _baseline(client, baseline, frame, drop, task, y)
    base_metrics: dict[str, float] | None = None
    comparison: dict[str, dict[str, dict[str, float | None]]] = {}
    if base_scored is not None:
        base_metrics = _metrics(task, y, base_scored, groups, k, slice(None))
        comparison[OVERALL] = compare(metrics, base_metrics)
        for s in picked:
            slice_base = _metrics(task, y, base_scored, groups, k, s.rows) if len(s.rows) else {}
            current = per_slice[s.label]
            per_slice[s.label] = SliceMetrics(current.label, current.rows, current.metrics, current.gated, slice_base)
            comparison[s.label] = compare(current.metrics, slice_base)
    model_label = mref.version.uri if mref.version is not None else mref.uri
    baseline_label = (
        base_ref.version.uri if base_ref is not None and base_ref.version else (base_ref.uri if base_ref else None)
    )
    blessing = gate(checked, metrics, per_slice, base_metrics, model=model_label, baseline_model=baseline_label)
    if base_note:
        blessing = Blessing(
            blessing.passed, blessing.checks, [base_note, *blessing.reasons], blessing.model, blessing.baseline
        )
    svgs = _plots(task, y, scored, per_slice)
    explanations = explain_model(mref.model, x, y, scored, task, explain, explain_rows) if explain else None
    result = EvaluationResult(
        run_id=None,
        task=task,
        model=model_label,
        model_version=mref.version.version if mref.version else None,
        rows=len(frame),
        metrics=metrics,
        slices=per_slice,
        baseline=base_metrics,
        baseline_model=baseline_label,
        comparison=comparison,
        blessing=blessing,
        plots=sorted(svgs),
        explanations=explanations,
        dataset=dref.uri,
    )
    return _record(client, result, mref, dref, svgs, name, experiment, bool(checked))


def _numeric(y: np.ndarray, column: str) -> np.ndarray:
    try:
        out = y.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"target column {column!r} must be numeric for this task") from None
    if not np.all(np.isfinite(out)):
        raise InvalidArgument(f"target column {column!r} has missing or infinite values; drop or fill them first")
    return out


def _metrics(task: Task, y: np.ndarray, s: Scored, groups: np.ndarray | None, k: int, rows: Any) -> dict[str, float]:
    proba = s.proba[rows] if s.proba is not None else None
    grp = groups[rows] if groups is not None else None
    return compute(task, y[rows], s.y_pred[rows], proba=proba, classes=s.classes, group=grp, k=k)


def _baseline(
    client: Client, baseline: Any, frame: pd.DataFrame, drop: list[str], task: str, y: np.ndarray
) -> tuple[ModelRef | None, Scored | None, str | None]:
    """The baseline model scored on the same rows; no version behind an alias yet -> (None, None, note)."""
    if baseline is None:
        return None, None, None
    try:
        ref = resolve_model(client, baseline)
    except NotFound as exc:
        if isinstance(baseline, str) and baseline.startswith("models:/") and "@" in baseline:
            return None, None, f"no baseline: {baseline} does not exist yet ({exc}); change thresholds not applied"
        raise
    x = feature_frame(ref.model, frame, drop)
    return ref, score(ref.model, x, task, y), None


def _plots(task: str, y: np.ndarray, s: Scored, per_slice: dict[str, SliceMetrics]) -> dict[str, str]:
    if task == "ranking":
        return {}
    from treadle.evaluation._plots import plots

    slice_metrics = {label: m.metrics for label, m in per_slice.items()} or None
    classes = list(s.classes) if s.classes is not None else None
    return plots(task, y, s.y_pred, s.proba, classes, slice_metrics)


def _record(
    client: Client,
    result: EvaluationResult,
    mref: ModelRef,
    dref: Any,
    svgs: dict[str, str],
    name: str | None,
    experiment: str | None,
    gated: bool,
) -> EvaluationResult:
    """Log the one run, the lineage and the blessing; the result gets the run id."""
    model_name = mref.name or (name or "model")
    tags = {
        "treadle.evaluation": "true",
        "treadle.evaluation.model": model_name,
        "treadle.evaluation.task": result.task,
        "treadle.evaluation.blessed": "true" if result.passed else "false",
        "treadle.evaluation.gated": "true" if gated else "false",
    }
    if mref.version is not None:
        tags["treadle.evaluation.version"] = str(mref.version.version)
    if result.baseline_model:
        tags["treadle.evaluation.baseline"] = result.baseline_model
    if result.dataset:
        tags["treadle.evaluation.dataset"] = result.dataset
    run_name = f"evaluate-{model_name}" + (f"-v{mref.version.version}" if mref.version else "")
    run_id = _log.open_run(client, run_name, experiment, tags)
    status: RunStatus = "FAILED"
    try:
        blessing = Blessing(**{**_shallow(result.blessing), "run_id": run_id})
        result = EvaluationResult(**{**_shallow(result), "run_id": run_id, "blessing": blessing})
        flat = dict(result.metrics)
        for label, sm in result.slices.items():
            flat.update({f"slice/{slice_key(label)}/{m}": v for m, v in sm.metrics.items()})
        flat.update({f"baseline/{m}": v for m, v in (result.baseline or {}).items()})
        _log.log_metrics(client, run_id, {k.replace("@", "_at_"): v for k, v in flat.items()})
        client.log_bytes(run_id, json.dumps(result.to_dict(), indent=1).encode(), "evaluation/report.json")
        client.log_bytes(
            run_id, json.dumps(result.to_dict()["blessing"], indent=1).encode(), "evaluation/blessing.json"
        )
        for plot_name, svg in svgs.items():
            client.log_bytes(run_id, svg.encode(), f"evaluation/plots/{plot_name}.svg")
        if result.explanations is not None:
            client.log_bytes(
                run_id, json.dumps(result.to_dict()["explanations"]).encode(), "evaluation/explanations.json"
            )
        _log.log_lineage(client, run_id, mref, dref)
        _log.bless_version(client, mref, run_id, result.passed)
        status = "FINISHED"
    finally:
        client.tracking.end_run(run_id, status)
    return result


def _shallow(obj: Any) -> dict[str, Any]:
    """A dataclass's fields, not deep-copied (``asdict`` would turn nested records into dicts)."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
