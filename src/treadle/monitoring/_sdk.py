"""``td.monitoring``: create monitors, run them, log labels, read their windows.

    td.monitoring.create_monitor("churn", deployment="churn", target="churned", window="1000 rows")
    td.monitoring.run_monitor("churn")            # also run by the server's scheduler
    td.monitoring.log_labels(request_ids, labels)  # real performance per window once labels arrive

A monitor's reference is profiled once, at creation, and stored as a blob: runs compare windows of
the request log with that profile and never read the reference data again — unless it was found
through lineage and the model it was found for is promoted (see ``_reprofile``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any

import numpy as np
import pandas as pd

from treadle.errors import AlreadyExists, InvalidArgument, NotFound, TreadleError
from treadle.monitoring import _reference as ref
from treadle.monitoring._reprofile import refresh
from treadle.monitoring._runner import backfill, prediction_column, run
from treadle.monitors import (
    AlertRule,
    DriftConfig,
    LabelsLogged,
    Monitor,
    MonitorSpec,
    ReferenceInfo,
    WindowReport,
    WindowSpec,
)

log = logging.getLogger(__name__)
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}
_UNITS["day"] = 86400
_SHORTHAND = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from treadle.client import get_client

    return get_client()


def _now() -> int:
    return int(time.time() * 1000)


def parse_window(window: WindowSpec | dict[str, Any] | str | int | None) -> WindowSpec:
    """A window from a spec, a mapping, a row count, or a shorthand: ``"1000 rows"``, ``"1h"``,
    ``"30m"``, ``"90s"``, ``"1 day"``."""
    if window is None:
        return WindowSpec()
    if isinstance(window, WindowSpec):
        return window
    if isinstance(window, dict):
        return WindowSpec.model_validate(window)
    if isinstance(window, int) and not isinstance(window, bool):
        return WindowSpec(kind="count", rows=window)
    if isinstance(window, str):
        match = _SHORTHAND.match(window.lower())
        if match is not None:
            n, unit = int(match[1]), match[2]
            if unit not in _UNITS and unit.endswith("s") and unit != "ms":  # plurals: rows, hours, ...
                unit = unit[:-1]
            if unit in ("", "row"):
                return WindowSpec(kind="count", rows=n)
            if unit in _UNITS:
                return WindowSpec(kind="time", seconds=n * _UNITS[unit], rows=None)
    raise InvalidArgument(
        f"window {window!r} is not understood: use e.g. '1000 rows', '1h', '30m', '90s', a WindowSpec or "
        "{'kind': 'time', 'seconds': 3600}"
    )


def _drift_config(drift: DriftConfig | dict[str, Any] | None) -> DriftConfig:
    if drift is None:
        return DriftConfig()
    return drift if isinstance(drift, DriftConfig) else DriftConfig.model_validate(drift)


def _rules(alerts: list[AlertRule | dict[str, Any]] | None) -> list[AlertRule]:
    return [a if isinstance(a, AlertRule) else AlertRule.model_validate(a) for a in alerts or []]


def _features(frame: pd.DataFrame, given: list[str] | None, target: str | None, predictor: Any) -> list[str]:
    """The monitored features, in the order a 2-D request tensor lists them: given, else the model's
    signature columns, else every reference column but the target."""
    signature = ref.signature_columns(predictor) if predictor is not None else None
    if given is not None:
        features = list(given)
    elif signature and all(f in frame.columns for f in signature):
        features = signature
    else:
        features = [str(c) for c in frame.columns if c != target]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"features {missing} are not in the reference (its columns: {[str(c) for c in frame.columns]})"
        )
    if target is not None and target in features:
        raise InvalidArgument(f"the target {target!r} cannot also be a feature: leave it out of features=")
    if not features:
        raise InvalidArgument("the reference has no feature columns to monitor")
    return features


def _profile_reference(
    spec: MonitorSpec, reference: ref.Reference, model_uri: str | None, predictor: Any
) -> tuple[Any, list[str], str | None]:
    """The reference profile (features, the model's predictions, CBPE's calibration in ``extra``)."""
    from treadle.monitoring._profile import profile

    frame = reference.frame
    if frame.empty:
        raise InvalidArgument("the reference has no rows: a monitor needs reference data to compare with")
    if spec.target is not None and spec.target not in frame.columns:
        raise InvalidArgument(f"the target {spec.target!r} is not a reference column ({list(frame.columns)})")
    features = _features(frame, spec.features, spec.target, predictor)
    data = frame[features].copy()
    pred_col = prediction_column(features)
    signature = ref.signature_columns(predictor) if predictor is not None else None
    extra: dict[str, Any] = {"features": features, "inputs": signature or features, "model": model_uri}
    extra["target"] = spec.target
    kinds: dict[str, Any] = {}
    answers = None
    if predictor is not None:  # the model reads its own inputs, which may be more than the monitored ones
        inputs = signature or features
        x = frame[inputs] if all(c in frame.columns for c in inputs) else data
        answers = ref.answers(predictor, x, spec.task == "classification")
    if answers is not None:
        data[pred_col] = answers.prediction
        kinds[pred_col] = "categorical" if spec.task == "classification" else "numeric"
        extra["prediction"] = pred_col
        if answers.classes is not None:
            extra["classes"] = answers.classes
        if answers.proba is not None and spec.target is not None and answers.classes is not None:
            from treadle.monitoring._cbpe import CBPE

            extra["cbpe"] = CBPE().fit(answers.proba, frame[spec.target].to_numpy(), answers.classes).to_dict()
    prof = profile(data, columns=list(data.columns), categorical=spec.categorical, kinds=kinds or None)
    prof = dataclasses.replace(prof, extra={**prof.extra, **extra})
    return prof, features, extra.get("prediction")


def create_monitor(
    name: str,
    deployment: str,
    *,
    model: str | None = None,
    reference: Any = None,
    target: str | None = None,
    features: list[str] | None = None,
    categorical: list[str] | None = None,
    task: str = "classification",
    window: WindowSpec | dict[str, Any] | str | int | None = None,
    drift: DriftConfig | dict[str, Any] | None = None,
    alerts: list[AlertRule | dict[str, Any]] | None = None,
    interval_s: int = 60,
    replace: bool = False,
    client: Any = None,
) -> Monitor:
    """Watch the request log of ``deployment`` against a reference, in windows.

    ``reference``: a DataFrame, ``"dataset@version"``/``"dataset@alias"`` or a DatasetVersion; by
    default the training data of ``model`` (default: the deployment's control model) found through
    lineage. ``target``: the reference's label column (with class probabilities, CBPE estimates
    accuracy before labels arrive). ``window``: ``"1000 rows"``, ``"1h"``, a WindowSpec or a mapping.
    The reference is profiled once and stored; windows start at the monitor's creation."""
    c = _client(client)
    spec = MonitorSpec.model_validate(
        {
            "name": name,
            "deployment": deployment,
            "model": model,
            "target": target,
            "features": features,
            "categorical": categorical,
            "task": task,
            "window": parse_window(window),
            "drift": _drift_config(drift),
            "alerts": _rules(alerts),
            "interval_s": interval_s,
        }
    )
    if not replace and _exists(c, name):  # say so before profiling the reference, not after
        raise AlreadyExists(
            f"monitor {name!r} already exists: pass replace=True to change its spec, or pick another name"
        )
    model_uri = model or ref.deployment_model(c, deployment)
    try:  # the version an alias names now: the one profiled, recorded to notice a promotion later
        version = ref.model_version(c, model_uri)
    except NotFound:  # lineage below says so with a hint; a given reference goes on without predictions
        version = None
    predictor = ref.load_predictor(c, version or model_uri)
    if reference is not None:
        found = ref.given_reference(c, reference)
    else:  # the training dataset must hold the model's inputs (and the target)
        needed = features or (ref.signature_columns(predictor) if predictor is not None else None) or []
        found = ref.lineage_reference(c, version or model_uri, needed + ([target] if target else []))
    if found.dataset is not None:
        spec = spec.model_copy(update={"reference_dataset": found.dataset, "reference_version": found.version})
    prof, used, pred_col = _profile_reference(spec, found, model_uri, predictor)
    _check_drift(spec.drift, {c: p.kind for c, p in prof.columns.items()})  # not at every run, window after window
    spec = spec.model_copy(update={"features": used, "model": model_uri})
    stored = c.blobs.put_bytes(prof.to_bytes())  # first: a failed upload leaves no monitor without a reference
    created = c.monitors.create_monitor(spec, replace=replace)
    info = reference_info(found, prof, used, pred_col, stored, version)
    try:
        return c.monitors.set_reference(created.name, info)
    except TreadleError:
        if not replace:  # a monitor without a reference is never run: do not leave one behind
            c.monitors.delete_monitor(created.name)
        raise


def reference_info(
    found: ref.Reference, prof: Any, used: list[str], pred_col: str | None, stored: Any, version: str | None
) -> ReferenceInfo:
    """What the monitor records of a stored reference profile."""
    return ReferenceInfo(
        dataset=found.dataset,
        version=found.version,
        rows=prof.rows,
        columns={f: prof.columns[f].kind for f in used},
        prediction=prof.columns[pred_col].kind if pred_col else None,
        profile_digest=stored.digest,
        profile_size=stored.size,
        found_by=found.found_by,
        model_version=version,
    )


def _check_drift(cfg: DriftConfig, kinds: dict[str, Any]) -> None:
    """Refuse a drift config no window could run: unknown tests, tests for another kind or column."""
    from treadle.monitoring._drift import _options
    from treadle.monitoring.base import get_test

    _options(cfg, None, None, None, None)  # thresholds, share and correction
    for column, test in cfg.tests.items():
        if column not in kinds:
            raise InvalidArgument(f"drift test for {column!r}, which is not monitored; the columns: {sorted(kinds)}")
        get_test(test, kinds[column])
    for default, kind in ((cfg.default_numeric, "numeric"), (cfg.default_categorical, "categorical")):
        if default is not None:
            get_test(default, kind)


def _exists(client: Any, name: str) -> bool:
    try:
        client.monitors.get_monitor(name)
    except NotFound:
        return False
    return True


def _load_profile(client: Any, monitor: Monitor) -> Any:
    from treadle.monitoring._profile import Profile

    if monitor.reference is None:
        raise InvalidArgument(
            f"monitor {monitor.spec.name!r} has no reference profile: create it again with "
            "td.monitoring.create_monitor(..., replace=True)"
        )
    return Profile.from_bytes(client.blobs.read_bytes(monitor.reference.profile_digest))


def run_monitor(name: str, *, now_ms: int | None = None, client: Any = None) -> list[WindowReport]:
    """Evaluate and record every complete window since the monitor's cursor; returns them (with the
    alert rules they fired or cleared). A failure is recorded on the monitor and raised. Then the
    latest windows whose labels arrived since they were scored get their real performance (late
    labels: logged and noted on the monitor when they cannot be scored, never a failed run)."""
    c = _client(client)
    monitor = c.monitors.get_monitor(name)  # NotFound for an unknown monitor: nothing to record
    try:
        # a lineage-found reference follows a promotion (the alias names a version trained on other data)
        monitor, profile, note = refresh(c, monitor, _load_profile(c, monitor))
        reports = run(c, monitor, profile, _now() if now_ms is None else now_ms, note)
        if not reports:  # recording a window marks the run; an idle run must too, or it is due every tick
            c.monitors.mark_run(name)
    except Exception as exc:
        message = exc.message if isinstance(exc, TreadleError) else f"{type(exc).__name__}: {exc}"
        try:
            c.monitors.record_error(name, message)
        except Exception:
            log.exception("monitor %s: could not record its error", name)
        if isinstance(exc, TreadleError):
            raise
        raise TreadleError(f"monitor {name!r} failed: {message}") from exc
    _late_labels(c, monitor, profile, reports)
    return reports


def _late_labels(client: Any, monitor: Monitor, profile: Any, recorded: list[WindowReport]) -> None:
    """Real performance for the monitor's recent windows whose labels came after them; never raises."""
    name = monitor.spec.name
    try:
        updated, problems = backfill(client, monitor, profile, skip={(r.start_ms, r.end_ms) for r in recorded})
    except Exception as exc:
        log.warning("monitor %s: late labels not scored", name, exc_info=True)
        updated, problems = [], [exc.message if isinstance(exc, TreadleError) else f"{type(exc).__name__}: {exc}"]
    if updated:
        log.info("monitor %s: late labels scored in %d windows", name, len(updated))
    if problems:  # shown on the monitor until its next run
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        try:
            client.monitors.record_error(name, f"late labels not scored: {'; '.join(problems[:3])}{more}")
        except Exception:
            log.exception("monitor %s: could not record its error", name)


def run_due(client: Any = None, now_ms: int | None = None, *, budget_s: float | None = None) -> dict[str, int | str]:
    """Run every due monitor (the scheduler calls this each tick): monitor -> windows recorded, or the
    error text. Never raises. With
    ``budget_s``, no further monitor starts once that many seconds have passed (the rest stay due:
    a scheduler must get back to its lease)."""
    now = _now() if now_ms is None else now_ms
    started = time.monotonic()
    done: dict[str, int | str] = {}
    try:
        c = _client(client)
        due = c.monitors.due_monitors(now)
    except Exception as exc:
        log.exception("monitoring: cannot list due monitors")
        return {"*": f"{type(exc).__name__}: {exc}"}
    for name in due:
        if budget_s is not None and time.monotonic() - started > budget_s:
            break
        try:
            done[name] = len(run_monitor(name, now_ms=now, client=c))
        except Exception as exc:
            done[name] = exc.message if isinstance(exc, TreadleError) else f"{type(exc).__name__}: {exc}"
            log.warning("monitor %s failed: %s", name, done[name])
    return done


def log_labels(
    request_ids: list[str] | Any, labels: list[Any] | Any, *, endpoint: str | None = None, client: Any = None
) -> LabelsLogged:
    """Ground truth for served requests (by request id, e.g. the ``x-request-id`` the server
    answered); ids no request log knows come back in ``unknown``."""
    ids = [str(i) for i in (request_ids.tolist() if hasattr(request_ids, "tolist") else list(request_ids))]
    values = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    return _client(client).monitors.log_labels(ids, values, endpoint=endpoint)


def get_monitor(name: str, client: Any = None) -> Monitor:
    return _client(client).monitors.get_monitor(name)


def list_monitors(client: Any = None) -> list[Monitor]:
    return _client(client).monitors.list_monitors()


def windows(
    name: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 500,
    client: Any = None,
) -> list[WindowReport]:
    """The monitor's recorded windows ending in [since_ms, until_ms], oldest first."""
    return _client(client).monitors.list_windows(name, since_ms, until_ms, limit)


def delete_monitor(name: str, client: Any = None) -> None:
    _client(client).monitors.delete_monitor(name)


__all__ = [
    "create_monitor",
    "delete_monitor",
    "get_monitor",
    "list_monitors",
    "log_labels",
    "parse_window",
    "run_due",
    "run_monitor",
    "windows",
]
