"""Evaluating a monitor: cut the request log after its cursor into complete windows, and for each
window compute drift against the stored reference profile, data quality, real performance from
the labels that arrived, and a CBPE estimate — then record it (which moves the cursor and lets
the monitors service decide alerts).

Windows: by count, every ``rows`` decoded rows in (time, request id) order, cut on request
boundaries (a batch is never split); by time, aligned ``[k*s, (k+1)*s)`` windows that have ended.
Requests are read only up to ``now - LOG_GRACE_MS`` so parts still being flushed by serving
processes land before their window is cut. Consecutive time windows with no requests are recorded
as one empty window. A monitor starts at its creation (older traffic is not its business).

Late labels: ground truth usually arrives hours after its window was recorded. Each run also looks
at the monitor's latest :data:`LABEL_BACKFILL_WINDOWS` windows that are not fully labelled, counts
the labels of each window's span (one indexed query) and, where more arrived than the window was
scored with, reads its rows from the request log again, decodes them as the run did and stores the
new performance (:func:`backfill`). Count windows keep the request ids at their bounds, so the rows
read again are exactly the window's; a count window recorded without them is read as every request
in [start_ms, end_ms], which may take in neighbours' requests logged in its first or last
millisecond.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument, TreadleError
from treadle.monitoring._decode import Decoded, decode
from treadle.monitoring._performance import performance
from treadle.monitors import Monitor, WindowReport
from treadle.rollout._request_log import read_request_log

if TYPE_CHECKING:
    from treadle.monitoring._profile import Profile

LOG_GRACE_MS = 5_000
MAX_WINDOWS = 100  # per run; the rest waits for the next run (the scheduler must stay responsive)
RAY_ROWS = 200_000  # windows this large run their per-column tests on Ray when a cluster is configured
PREDICTION = "prediction"
LABELS_PER_CALL = 50_000  # request ids per get_labels call (the service takes up to 100,000)
LABEL_BACKFILL_WINDOWS = 50  # the latest windows each run scores again when their labels arrive late

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What every window of one run shares."""

    client: Any
    monitor: Monitor
    profile: Profile
    features: list[str]
    prediction: str | None  # the prediction column's name in the profile (None: not profiled)
    predictor: Any = None  # the reference model, loaded on first need (CBPE without logged probabilities)
    predictor_loaded: bool = False


def prediction_column(features: list[str]) -> str:
    """A name for the prediction column that no feature has."""
    name = PREDICTION
    while name in features:
        name = f"_{name}_"
    return name


def _times(log: pd.DataFrame) -> np.ndarray:
    stamps = log["time"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]")
    return stamps.astype(np.int64)


def _ordered(log: pd.DataFrame) -> pd.DataFrame:
    """``log`` with an int ``time_ms`` column, in (time, request id) order."""
    log = log.assign(time_ms=_times(log) if len(log) else np.array([], dtype=np.int64))
    return log.sort_values(["time_ms", "id"], kind="stable").reset_index(drop=True)


def pending(client: Any, monitor: Monitor, now_ms: int) -> pd.DataFrame:
    """The request-log rows after the monitor's cursor and before ``now - grace``, in (time, id)
    order, with an int ``time_ms`` column."""
    spec = monitor.spec
    since = monitor.cursor_ms if monitor.cursor_ms is not None else monitor.created_at
    if spec.window.kind == "time" and monitor.cursor_ms is None:
        seconds_ms = int(spec.window.seconds or 1) * 1000
        since = since // seconds_ms * seconds_ms
    log = _ordered(read_request_log(spec.deployment, client, since=since, until=now_ms - LOG_GRACE_MS))
    if monitor.cursor_ms is not None and spec.window.kind == "count":
        after = (log["time_ms"] > monitor.cursor_ms) | (
            (log["time_ms"] == monitor.cursor_ms) & (log["id"].fillna("") > (monitor.cursor_id or ""))
        )
        log = log[after].reset_index(drop=True)
    return log


@dataclass
class Window:
    start_ms: int
    end_ms: int
    lo: int  # the window's request-log rows: [lo, hi)
    hi: int
    cursor_ms: int
    cursor_id: str | None  # count windows: the id of the window's last request (its upper bound)
    first_id: str | None = None  # count windows: the id of its first request


def cut(monitor: Monitor, log: pd.DataFrame, decoded: Decoded, now_ms: int) -> list[Window]:
    """The complete windows in ``log`` (see the module docstring), at most :data:`MAX_WINDOWS`."""
    spec = monitor.spec.window
    if spec.kind == "count":
        return _cut_count(log, decoded, int(spec.rows or 1))
    since = monitor.cursor_ms if monitor.cursor_ms is not None else monitor.created_at
    return _cut_time(log, since, int(spec.seconds or 1) * 1000, now_ms - LOG_GRACE_MS)


def _cut_count(log: pd.DataFrame, decoded: Decoded, rows: int) -> list[Window]:
    per_request = np.bincount(decoded.source, minlength=len(log)) if len(log) else np.array([], dtype=np.int64)
    total = np.cumsum(per_request)
    windows: list[Window] = []
    start, base = 0, 0
    while len(windows) < MAX_WINDOWS:
        end = int(np.searchsorted(total, base + rows, side="left"))
        if end >= len(log):
            break
        first, last = int(log["time_ms"].iloc[start]), int(log["time_ms"].iloc[end])
        ids = str(log["id"].iloc[start]), str(log["id"].iloc[end])
        windows.append(Window(first, last, start, end + 1, last, ids[1], ids[0]))
        start, base = end + 1, int(total[end])
    return windows


def _cut_time(log: pd.DataFrame, since: int, size: int, until: int) -> list[Window]:
    first = since // size * size
    times = log["time_ms"].to_numpy() if len(log) else np.array([], dtype=np.int64)
    windows: list[Window] = []
    start = first
    while start + size <= until and len(windows) < MAX_WINDOWS:
        lo, hi = np.searchsorted(times, [start, start + size], side="left")
        end = start + size
        if lo == hi:  # no requests: extend over every following empty window (one empty record)
            nxt = times[hi] // size * size if hi < len(times) else until // size * size
            end = max(end, min(int(nxt), until // size * size))
        windows.append(Window(start, end, int(lo), int(hi), end, None))
        start = end
    return windows


def aligned(profile: Profile, frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Categorical columns spelled as the reference spells them: categories are compared as text,
    and JSON plus missing values turn the served ``1`` into ``1.0``."""
    out = frame
    for name in columns if columns is not None else list(frame.columns):
        ref = profile.columns.get(name)
        if ref is None or ref.kind != "categorical" or not ref.categories or name not in frame.columns:
            continue
        series = frame[name]
        integral_keys = all(k.lstrip("-").isdigit() for k in ref.categories)
        if series.dtype.kind == "f" and integral_keys:  # (profiles spell integral floats as integers too)
            finite = series.dropna()
            if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)):
                out = out.assign(**{name: series.astype("Int64")})
    return out


def executor(rows: int) -> Literal["threads", "ray"]:
    """Ray for large windows when a cluster is configured (per-column tests in parallel)."""
    return "ray" if rows >= RAY_ROWS and os.environ.get("TREADLE_RAY_ADDRESS") else "threads"


def evaluate(ctx: Context, window: Window, decoded: Decoded) -> WindowReport:
    """One window's report (drift, quality, performance, estimate), not yet recorded."""
    from treadle.monitoring._quality import quality

    spec = ctx.monitor.spec
    frame = decoded.frame = aligned(ctx.profile, decoded.frame)
    notes = [n for n in [decoded.note()] if n]
    report: dict[str, Any] = {
        "monitor": spec.name,
        "start_ms": window.start_ms,
        "end_ms": window.end_ms,
        "rows": decoded.rows,
    }
    if window.cursor_id is not None:  # a count window: its bounds, to read its rows again for late labels
        report.update(first_id=window.first_id, last_id=window.cursor_id)
    if decoded.rows == 0:
        notes.insert(0, "no requests in this window")
        return WindowReport(**report, note="; ".join(notes))
    monitored = frame[[c for c in frame.columns if c in set(ctx.features)]]
    report["quality"] = q = quality(ctx.profile, monitored, ctx.features)
    if q.missing_columns:
        notes.append(f"columns missing from the served requests: {', '.join(q.missing_columns)}")
    present = [f for f in ctx.features if f in frame.columns]
    if decoded.rows < spec.window.min_rows:
        notes.append(f"only {decoded.rows} rows (< min_rows {spec.window.min_rows}): no drift verdict")
    elif not present:
        notes.append("none of the monitored features is in the served requests: no drift verdict")
    else:
        try:
            report.update(_drift(ctx, decoded, present))
        except (TreadleError, TypeError, ValueError) as exc:  # a poisoned window must not stop the monitor
            notes.append(f"no drift verdict: {getattr(exc, 'message', exc)}")
    scored = _performance(ctx, decoded)
    if "_note" in scored:
        notes.append(scored.pop("_note"))
    report.update(scored)
    return WindowReport(**report, note="; ".join(notes) or None)


def _drift(ctx: Context, decoded: Decoded, present: list[str]) -> dict[str, Any]:
    from treadle.monitoring._drift import drift

    current = decoded.frame[present].copy()
    for name in present:  # text in a numeric column: missing for the tests (quality reports the values)
        ref = ctx.profile.columns.get(name)
        if ref is not None and ref.kind == "numeric" and current[name].dtype == object:
            current[name] = pd.to_numeric(current[name], errors="coerce").astype(float)
    prediction = None
    if ctx.prediction is not None and decoded.prediction is not None:
        current[ctx.prediction] = decoded.prediction
        current = aligned(ctx.profile, current, [ctx.prediction])
        prediction = ctx.prediction
    result = drift(
        ctx.profile,
        current,
        columns=present,
        prediction=prediction,
        executor=executor(decoded.rows),
        config=ctx.monitor.spec.drift,
        errors="note",
    )
    return {
        "drift_share": result.share,
        "dataset_drift": result.dataset_drift,
        "columns": list(result.columns.values()),
        "prediction": result.prediction,
    }


def _labels(ctx: Context, decoded: Decoded) -> np.ndarray:
    """The label of each decoded row (None where none arrived yet). A label belongs to a request:
    the rows of a batched request all take it."""
    ids = [str(i) for i in pd.unique(decoded.ids)]
    got: dict[str, Any] = {}
    for start in range(0, len(ids), LABELS_PER_CALL):
        got.update(ctx.client.monitors.get_labels(ctx.monitor.spec.deployment, ids[start : start + LABELS_PER_CALL]))
    if not got:
        return np.full(decoded.rows, None, dtype=object)
    mapped = pd.Series(decoded.ids, dtype=object).map(got)
    return np.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in mapped], dtype=object)


def _comparable(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as one type (JSON may give 1 on one side and "1" on the other)."""
    if all(isinstance(v, str) for v in y_pred) != all(isinstance(v, str) for v in y_true):
        return np.array([str(v) for v in y_true], dtype=object), np.array([str(v) for v in y_pred], dtype=object)
    return y_true, y_pred


def _proba(ctx: Context, decoded: Decoded) -> np.ndarray | None:
    """The window's class probabilities: logged, else from the reference model when CBPE needs them."""
    extra = ctx.profile.extra
    classes = extra.get("classes")
    proba = decoded.proba
    if proba is None and extra.get("cbpe") is not None:
        proba = _recompute_proba(ctx, decoded)
    if proba is not None and classes is not None and proba.shape[1] != len(classes):
        proba = None
    return proba


def _performance(ctx: Context, decoded: Decoded) -> dict[str, Any]:
    spec = ctx.monitor.spec
    extra = ctx.profile.extra
    proba = _proba(ctx, decoded)
    out = _scored(ctx, decoded, proba)
    if proba is not None and extra.get("cbpe") is not None and spec.task == "classification":
        from treadle.monitoring._cbpe import CBPE

        try:
            out["estimated"] = CBPE.from_dict(extra["cbpe"]).estimate(proba)
        except (TreadleError, ValueError, TypeError) as exc:  # odd probabilities: no estimate, not a stuck monitor
            note = f"no performance estimate: {getattr(exc, 'message', exc)}"
            out["_note"] = f"{out['_note']}; {note}" if "_note" in out else note
    return out


def _scored(ctx: Context, decoded: Decoded, proba: np.ndarray | None) -> dict[str, Any]:
    """``labelled`` rows, ``labels_counted`` (labelled requests) and ``performance`` from the labels
    that have arrived (``_note``: why they could not be scored)."""
    spec = ctx.monitor.spec
    classes = ctx.profile.extra.get("classes")
    out: dict[str, Any] = {}
    labels = _labels(ctx, decoded)
    mask = np.array([v is not None for v in labels], dtype=bool)
    out["labelled"] = int(mask.sum())
    out["labels_counted"] = len(pd.unique(decoded.ids[mask])) if mask.any() else 0
    if mask.any() and decoded.prediction is not None:
        y_true, y_pred = _comparable(labels[mask], np.asarray(decoded.prediction, dtype=object)[mask])
        p = proba[mask] if proba is not None and spec.task == "classification" else None
        cls = classes if p is not None else None
        if cls is not None and isinstance(y_true[0], str) and not isinstance(cls[0], str):
            cls = [str(c) for c in cls]
        try:
            if spec.task == "regression":
                y_true, y_pred = y_true.astype(float), y_pred.astype(float)
            out["performance"] = performance(spec.task, y_true, y_pred, proba=p, classes=cls)
        except (TreadleError, ValueError, TypeError) as exc:  # labels of the wrong kind: say so, go on
            out["_note"] = f"labels could not be scored: {getattr(exc, 'message', exc)}"
    return out


def _recompute_proba(ctx: Context, decoded: Decoded) -> np.ndarray | None:
    """Class probabilities of the window from the reference model, when the log has none (callers
    rarely ask for ``predict_proba``): CBPE needs them."""
    from treadle.monitoring._reference import load_predictor, signature_columns

    if not ctx.predictor_loaded:
        ctx.predictor = load_predictor(ctx.client, ctx.profile.extra.get("model"))
        ctx.predictor_loaded = True
    if ctx.predictor is None or not ctx.predictor.has_proba:
        return None
    inputs = signature_columns(ctx.predictor) or ctx.features
    if not all(f in decoded.frame.columns for f in inputs):
        return None
    try:
        return np.asarray(ctx.predictor.predict_proba(_as_served(decoded.frame[inputs])), dtype=float)
    except Exception:  # e.g. NaN the model refuses: no estimate for this window, not a failed run
        return None


def _as_served(frame: pd.DataFrame) -> pd.DataFrame:
    """The decoded numbers are floats; whole-number columns go back to integers, as the callers sent
    them (a model saved with int64 inputs refuses floats; int64 widens to a float input safely)."""
    out = frame.copy()
    for name in out.columns:
        values = out[name].to_numpy()
        if (
            values.dtype.kind == "f"
            and len(values)
            and np.isfinite(values).all()
            and (values == np.round(values)).all()
        ):
            out[name] = values.astype(np.int64)
    return out


def context(client: Any, monitor: Monitor, profile: Profile) -> Context:
    features = [str(f) for f in profile.extra.get("features") or monitor.spec.features or []]
    if not features:
        features = [c for c in profile.columns if c != profile.extra.get("prediction")]
    return Context(client, monitor, profile, features, profile.extra.get("prediction"))


def _decode(ctx: Context, log: pd.DataFrame) -> Decoded:
    # A 2-D request tensor lists the model's inputs in its signature order, which may hold more
    # columns than the monitored features: decode by that order, then monitor the features.
    inputs = [str(c) for c in ctx.profile.extra.get("inputs") or ctx.features]
    return decode(log, inputs + [f for f in ctx.features if f not in inputs])


def run(client: Any, monitor: Monitor, profile: Profile, now_ms: int, note: str | None = None) -> list[WindowReport]:
    """Evaluate and record every complete window after the cursor; returns the recorded reports.
    ``note`` goes on the first window (e.g. that the reference was re-profiled)."""
    ctx = context(client, monitor, profile)
    log = pending(client, monitor, now_ms)
    decoded = _decode(ctx, log)
    windows = cut(monitor, log, decoded, now_ms)
    size = monitor.spec.window.rows or 1
    if not windows and monitor.spec.window.kind == "count" and decoded.rows == 0 and decoded.malformed >= size:
        # no window can ever fill up: say why on the monitor instead of waiting silently
        raise InvalidArgument(
            f"{decoded.malformed} requests since the last window could not be decoded into the monitored "
            f"features ({'; '.join(list(decoded.reasons.values())[:3])}); check the monitor's features "
            "against what the deployment is sent"
        )
    recorded: list[WindowReport] = []
    for window in windows:
        report = evaluate(ctx, window, decoded.slice(window.lo, window.hi))
        if note and not recorded:
            report = report.model_copy(update={"note": "; ".join(n for n in (note, report.note) if n)})
        recorded.append(client.monitors.record_window(report, window.cursor_ms, window.cursor_id))
    return recorded


def span(monitor: Monitor, window: WindowReport) -> tuple[int, int]:
    """The request times a recorded window covers, both inclusive: count windows end with their
    last request, time windows just before ``end_ms``."""
    if window.last_id is not None or monitor.spec.window.kind == "count":
        return window.start_ms, window.end_ms
    return window.start_ms, max(window.start_ms, window.end_ms - 1)


def window_log(client: Any, monitor: Monitor, window: WindowReport) -> pd.DataFrame:
    """The request-log rows of a recorded window, read again (module docstring), in (time, id) order."""
    since, until = span(monitor, window)
    log = _ordered(read_request_log(monitor.spec.deployment, client, since=since, until=until))
    if window.first_id is not None and window.last_id is not None and len(log):
        ids, times = log["id"].fillna(""), log["time_ms"]
        after = (times > window.start_ms) | ((times == window.start_ms) & (ids >= window.first_id))
        before = (times < window.end_ms) | ((times == window.end_ms) & (ids <= window.last_id))
        log = log[after & before].reset_index(drop=True)
    return log


def backfill(
    client: Any, monitor: Monitor, profile: Profile, skip: Collection[tuple[int, int]] = ()
) -> tuple[list[WindowReport], list[str]]:
    """Score again the latest windows whose labels arrived after they were scored (module docstring);
    ``skip``: (start_ms, end_ms) of windows just recorded. Returns the updated windows and one line
    per window that could not be scored; a failing window does not stop the others."""
    ctx = context(client, monitor, profile)
    name, endpoint = monitor.spec.name, monitor.spec.deployment
    updated: list[WindowReport] = []
    problems: list[str] = []
    for window in client.monitors.list_windows(name, limit=LABEL_BACKFILL_WINDOWS):
        if window.rows == 0 or window.labelled >= window.rows or (window.start_ms, window.end_ms) in skip:
            continue
        where = f"window [{window.start_ms}, {window.end_ms}]"
        try:
            # Counted before the labels are read: a label landing in between is scored again next run.
            count = client.monitors.count_labels(endpoint, *span(monitor, window))
            scored_with = window.labels_counted if window.labels_counted is not None else window.labelled
            if count <= scored_with:
                continue
            decoded = _decode(ctx, window_log(client, monitor, window))
            decoded.frame = aligned(ctx.profile, decoded.frame)
            if decoded.rows == 0:  # its log parts are gone: keep the count, not to read them every run
                problems.append(f"{where}: its requests are no longer in the request log")
                scored: dict[str, Any] = {"labelled": window.labelled}
            else:
                scored = _scored(ctx, decoded, _proba(ctx, decoded))
            if "_note" in scored:
                problems.append(f"{where}: {scored['_note']}")
            updated.append(
                client.monitors.update_window_performance(
                    name, window.start_ms, window.end_ms, scored["labelled"], scored.get("performance"), count
                )
            )
        except Exception as exc:  # one window's failure must not cost the others their labels
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            logger.warning("monitor %s: late labels of %s not scored: %s", name, where, message)
            problems.append(f"{where}: {message}")
    return updated, problems
