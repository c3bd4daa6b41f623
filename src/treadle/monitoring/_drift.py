"""``drift(reference, current)``: per-column drift tests, FDR correction, dataset drift share.

Each column is prepared once (numeric: finite values sorted with numpy; categorical: value counts)
and every statistic is read from that preparation, so a column costs about two sorts. Columns run in
a thread pool (numpy's sort releases the GIL) or, for big windows, as groups of Ray tasks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument
from treadle.monitoring._profile import ColumnProfile, Profile, resolve_kinds, sample_from_profile
from treadle.monitoring._sample import sample_of
from treadle.monitoring._tests import default_test
from treadle.monitoring.base import ColumnSample, get_test
from treadle.monitors import ColumnDrift, ColumnKind, DriftConfig

DETAIL_BINS = 20
DETAIL_CATEGORIES = 20


@dataclass
class DriftReport:
    """Per-column drift (``columns``), the prediction column's (``prediction``), and the verdict:
    ``dataset_drift`` when the share of drifted columns (among those tested) >= ``drift_share``."""

    columns: dict[str, ColumnDrift]
    prediction: ColumnDrift | None
    drifted_columns: list[str]
    share: float
    dataset_drift: bool
    drift_share: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (non-finite statistics become None)."""
        return _finite(
            {
                "columns": {k: v.model_dump(mode="python") for k, v in self.columns.items()},
                "prediction": self.prediction.model_dump(mode="python") if self.prediction else None,
                "drifted_columns": list(self.drifted_columns),
                "share": self.share,
                "dataset_drift": self.dataset_drift,
                "drift_share": self.drift_share,
            }
        )

    def to_html(self) -> str:
        """A self-contained HTML page (no scripts): verdict, one row per column, histograms."""
        from treadle.monitoring._report import render_html

        return render_html(self)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


@dataclass
class _Job:
    column: str
    kind: ColumnKind
    reference: pd.Series | ColumnProfile
    current: pd.Series
    test: str | None
    threshold: float | None
    default_numeric: str | None
    default_categorical: str | None
    lenient: bool = False  # bad data in the column: no verdict and a note, instead of an exception


def _detail(ref: ColumnSample, cur: ColumnSample) -> dict[str, Any]:
    """A small histogram of both sides for the drill-down page."""
    out: dict[str, Any] = {"missing": [ref.missing, cur.missing], "non_finite": [ref.non_finite, cur.non_finite]}
    if ref.kind == "numeric":
        assert ref.min is not None and cur.min is not None and ref.max is not None and cur.max is not None
        lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
        edges = np.linspace(lo, hi, DETAIL_BINS + 1) if hi > lo else np.array([lo - 0.5, hi + 0.5])
        out.update(
            edges=edges.tolist(),
            reference=np.round(ref.shares(edges), 6).tolist(),
            current=np.round(cur.shares(edges), 6).tolist(),
        )
    elif ref.kind == "categorical":
        rc, cc = ref.value_counts(), cur.value_counts()
        keys = sorted(set(rc) | set(cc), key=lambda k: -(rc.get(k, 0) / ref.n + cc.get(k, 0) / cur.n))
        keys = keys[:DETAIL_CATEGORIES]
        out.update(
            categories=keys,
            reference=[round(rc.get(k, 0) / ref.n, 6) for k in keys],
            current=[round(cc.get(k, 0) / cur.n, 6) for k in keys],
        )
    return out


def _constant_note(ref: ColumnSample, cur: ColumnSample) -> str | None:
    if ref.n_unique != 1 or cur.n_unique != 1:
        return None
    same = ref.min == cur.min if ref.kind == "numeric" else set(ref.value_counts()) == set(cur.value_counts())
    return "constant column: one and the same value in reference and current" if same else None


def column_drift(job: _Job) -> ColumnDrift:
    """Drift of one column (runs in a worker thread or a Ray task)."""
    if not job.lenient:
        return _column_drift(job)
    try:
        return _column_drift(job)
    except (InvalidArgument, TypeError, ValueError) as exc:
        message = exc.message if isinstance(exc, InvalidArgument) else f"{type(exc).__name__}: {exc}"
        threshold = job.threshold if job.threshold is not None else 0.0
        return ColumnDrift(
            column=job.column,
            kind=job.kind,
            test=job.test or "none",
            threshold=threshold,
            drifted=False,
            note=f"no verdict: {message}",
        )


def _column_drift(job: _Job) -> ColumnDrift:
    ref = sample_from_profile(job.reference) if isinstance(job.reference, ColumnProfile) else None
    if ref is None:
        assert isinstance(job.reference, pd.Series)
        ref = sample_of(job.reference, job.kind)
    cur = sample_of(job.current, job.kind)
    if ref.n == 0 or cur.n == 0:
        side = "reference" if ref.n == 0 else "current"
        name = job.test or "none"
        threshold = job.threshold if job.threshold is not None else 0.0
        note = f"no verdict: every value of the {side} is missing (NaN/None) or infinite"
        counts = {"missing": [ref.missing, cur.missing], "non_finite": [ref.non_finite, cur.non_finite]}
        return ColumnDrift(
            column=job.column, kind=job.kind, test=name, threshold=threshold, drifted=False, note=note, detail=counts
        )
    name = job.test or default_test(ref, cur, numeric=job.default_numeric, categorical=job.default_categorical)
    test = get_test(name, job.kind)
    threshold = job.threshold if job.threshold is not None else test.default_threshold
    result = test.compute(ref, cur)
    detail = _detail(ref, cur)
    if result.detail:
        detail.update(result.detail)
    return ColumnDrift(
        column=job.column,
        kind=job.kind,
        test=name,
        statistic=result.statistic,
        p_value=result.p_value,
        threshold=threshold,
        drifted=test.drifted(result, threshold),
        detail=detail,
        note=_constant_note(ref, cur),
    )


def _run_group(jobs: list[_Job]) -> list[ColumnDrift]:
    return [column_drift(j) for j in jobs]


def _map(jobs: list[_Job], executor: Literal["threads", "ray"] | None) -> list[ColumnDrift]:
    if executor == "ray":
        return _map_ray(jobs)
    if executor not in ("threads", None):
        raise InvalidArgument(f"executor must be 'threads', 'ray' or None, not {executor!r}")
    workers = min(len(jobs), os.cpu_count() or 1)
    if executor is None or workers <= 1:
        return _run_group(jobs)
    # Largest columns first so that the pool does not end on one long sort.
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].current))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="treadle-drift") as pool:
        done = dict(zip(order, pool.map(column_drift, [jobs[i] for i in order]), strict=True))
    return [done[i] for i in range(len(jobs))]


def _map_ray(jobs: list[_Job]) -> list[ColumnDrift]:
    from treadle.data._ray import init_ray

    ray = init_ray("ray", 'drift(executor="ray")')
    cpus = int(ray.cluster_resources().get("CPU", 1))
    groups = [jobs[i :: max(1, min(cpus, len(jobs)))] for i in range(max(1, min(cpus, len(jobs))))]
    task = ray.remote(_run_group)
    results: list[list[ColumnDrift]] = ray.get([task.remote(g) for g in groups])
    by_name = {d.column: d for group in results for d in group}
    return [by_name[j.column] for j in jobs]


def _fdr(results: list[ColumnDrift]) -> list[ColumnDrift]:
    """Benjamini-Hochberg over the p-value tests; ``p_value`` becomes the adjusted one."""
    from scipy.stats import false_discovery_control

    idx = [i for i, r in enumerate(results) if r.p_value is not None]
    if not idx:
        return results
    raw = np.array([results[i].p_value for i in idx], dtype=np.float64)
    adjusted = false_discovery_control(raw, method="bh")
    out = list(results)
    for i, p_raw, p in zip(idx, raw, adjusted, strict=True):
        r = results[i]
        detail = {**r.detail, "p_value_raw": float(p_raw)}
        out[i] = r.model_copy(update={"p_value": float(p), "drifted": bool(p < r.threshold), "detail": detail})
    return out


def _options(
    config: DriftConfig | None,
    tests: dict[str, str] | None,
    thresholds: dict[str, float] | None,
    drift_share: float | None,
    correction: Literal["fdr"] | None,
) -> tuple[DriftConfig, float, Literal["fdr"] | None]:
    cfg = config or DriftConfig()
    merged = cfg.model_copy(
        update={"tests": {**cfg.tests, **(tests or {})}, "thresholds": {**cfg.thresholds, **(thresholds or {})}}
    )
    share = cfg.drift_share if drift_share is None else drift_share
    if not 0 < share <= 1:
        raise InvalidArgument(f"drift_share must be in (0, 1], not {share}")
    corr = correction if correction is not None else cfg.correction
    if corr not in (None, "fdr"):
        raise InvalidArgument(f"correction must be 'fdr' or None, not {corr!r}")
    for col, t in merged.thresholds.items():
        if not (isinstance(t, (int, float)) and t > 0):
            raise InvalidArgument(f"threshold of {col!r} must be a positive number, not {t!r}")
    return merged, share, corr


def drift(
    reference: pd.DataFrame | Profile,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    tests: dict[str, str] | None = None,
    thresholds: dict[str, float] | None = None,
    drift_share: float | None = None,
    correction: Literal["fdr"] | None = None,
    prediction: str | None = None,
    executor: Literal["threads", "ray"] | None = "threads",
    config: DriftConfig | None = None,
    errors: Literal["raise", "note"] = "raise",
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    ``reference``: a DataFrame (exact: statistics equal scipy's) or a stored :class:`Profile`.
    ``columns``: which to compare (default: every reference column but ``prediction``).
    ``categorical``: columns to treat as categorical (otherwise inferred). ``tests``/``thresholds``:
    per-column test name and threshold (default: Evidently's rules, see :func:`default_test`).
    ``drift_share``: share of drifted columns that makes the dataset drifted (default 0.5, or
    ``config``'s). ``correction="fdr"``: Benjamini-Hochberg over the p-value tests. ``prediction``:
    a column tested like the others but reported in ``DriftReport.prediction`` and not counted in
    the share. ``config``: a :class:`~treadle.monitors.DriftConfig`; explicit arguments win.
    ``errors="note"``: a column whose current values cannot be tested (text in a numeric column,
    vectors of another size) gets no verdict and a note instead of failing the report (monitors).
    """
    if not isinstance(current, pd.DataFrame):
        raise InvalidArgument(f"current must be a pandas DataFrame, not {type(current).__name__}")
    if len(current) == 0:
        raise InvalidArgument("current data is empty: drift needs at least one row")
    if errors not in ("raise", "note"):
        raise InvalidArgument(f"errors must be 'raise' or 'note', not {errors!r}")
    if not isinstance(reference, (pd.DataFrame, Profile)):
        raise InvalidArgument(f"reference must be a DataFrame or a Profile, not {type(reference).__name__}")
    if isinstance(reference, pd.DataFrame) and len(reference) == 0:
        raise InvalidArgument("reference data is empty: drift needs at least one reference row")
    cfg, share_needed, corr = _options(config, tests, thresholds, drift_share, correction)
    ref_columns = list(reference.columns)
    names = [c for c in ref_columns if c != prediction] if columns is None else list(columns)
    wanted = names + ([prediction] if prediction else [])
    unknown = [c for c in wanted if c not in ref_columns]
    if unknown:
        raise InvalidArgument(f"columns {unknown} are not in the reference (it has {ref_columns})")
    missing = [c for c in wanted if c not in current.columns]
    if missing:
        raise InvalidArgument(
            f"current data lacks columns {missing} that the reference has; "
            "send them, or pass columns=[...] to compare only the others"
        )
    if isinstance(reference, Profile):
        kinds = {c: reference.columns[c].kind for c in wanted}
    else:
        kinds = resolve_kinds(reference, wanted, list(categorical or []))
    for col, name in cfg.tests.items():
        if col in kinds:
            get_test(name, kinds[col])
    jobs = [
        _Job(
            c,
            kinds[c],
            reference.columns[c] if isinstance(reference, Profile) else reference[c],
            current[c],
            cfg.tests.get(c),
            cfg.thresholds.get(c),
            cfg.default_numeric,
            cfg.default_categorical,
            errors == "note",
        )
        for c in wanted
    ]
    results = _map(jobs, executor)
    pred = results.pop() if prediction else None
    if corr == "fdr":
        results = _fdr(results)
    return _report(results, pred, share_needed)


def _report(results: list[ColumnDrift], pred: ColumnDrift | None, share_needed: float) -> DriftReport:
    tested = [r for r in results if r.statistic is not None]
    drifted = [r.column for r in tested if r.drifted]
    share = len(drifted) / len(tested) if tested else 0.0
    return DriftReport(
        columns={r.column: r for r in results},
        prediction=pred,
        drifted_columns=drifted,
        share=share,
        dataset_drift=bool(tested) and share >= share_needed,
        drift_share=share_needed,
    )
