"""``validate``: hold a table to the schema and statistics of a dataset version before training on it.

The baseline is a stored dataset version: by default the one *before* the version being validated
(``ingest("iris")`` then ``validate(data, dataset="iris")`` compares the latest version with the
previous one), or any version or alias (``baseline="prod"``, e.g. to check a connector's fresh data
against the dataset the model was trained on). Its recorded schema (Arrow types) and statistics
(null fraction, mean, std per column, computed when the version was created) are compared with the
data's:

- schema break: a baseline column missing, or its type changed (a new column only with ``strict``);
- drift: a numeric column's mean moved by more than ``max_mean_shift`` baseline standard deviations;
- quality: a column's null fraction grew by more than ``max_null_increase``.

Any finding fails the step with :class:`ValidationFailed`, whose message lists every finding (and
the report is saved as the step run's ``validation.json``), so the steps after it never train on
broken data. A first version has nothing to compare with and passes.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

import treadle as td
from treadle.datasets import DatasetVersion
from treadle.errors import InvalidArgument, NotFound
from treadle.pipelines import step
from treadle.pipelines.components._util import log_dict, log_metrics


class ValidationFailed(InvalidArgument):
    """The data broke the baseline's schema or drifted from its statistics; ``report`` says how."""

    code = "VALIDATION_FAILED"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _baseline(
    dataset: str, version: int | str | None, baseline: int | str
) -> tuple[DatasetVersion, DatasetVersion | None]:
    """(the version validated, the one to compare with or None when there is none)."""
    current = td.datasets.get(dataset, version).version
    if baseline != "previous":
        return current, td.datasets.get(dataset, baseline).version
    older = [v for v in td.datasets.versions(dataset) if v.version < current.version]
    return current, max(older, key=lambda v: v.version) if older else None


def _arrow_types(data: pd.DataFrame) -> dict[str, str]:
    import pyarrow as pa

    try:
        schema = pa.Schema.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"validate: the data cannot be converted to Arrow: {exc}") from None
    return {f.name: str(f.type) for f in schema}


def compare(
    data: pd.DataFrame,
    reference: DatasetVersion,
    max_mean_shift: float = 0.5,
    max_null_increase: float = 0.05,
    strict: bool = False,
) -> dict[str, Any]:
    """The report of ``data`` against ``reference``: ``schema``, ``drift`` and ``quality`` findings."""
    types = _arrow_types(data)
    expected = {c.name: c.type for c in reference.columns}
    schema: list[str] = []
    for name, kind in expected.items():
        if name not in types:
            schema.append(f"column {name!r} ({kind}) is missing")
        elif types[name] != kind and not _compatible(kind, types[name]):
            schema.append(f"column {name!r} changed type from {kind} to {types[name]}")
    if strict:
        schema += [f"column {name!r} ({kind}) is new" for name, kind in types.items() if name not in expected]
    drift: list[str] = []
    quality: list[str] = []
    shifts: dict[str, float] = {}
    for name, stats in reference.stats.items():
        if name not in data.columns or not isinstance(stats, dict):
            continue
        column = data[name]
        nulls = float(column.isna().mean()) if len(column) else 0.0
        before = float(stats.get("null_fraction") or 0.0)
        if nulls - before > max_null_increase:
            quality.append(f"column {name!r}: null fraction {before:.3f} -> {nulls:.3f}")
        mean, std = stats.get("mean"), stats.get("std")
        if mean is None or not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        now = float(column.mean()) if column.notna().any() else math.nan
        scale = float(std) if std else 0.0
        shift = abs(now - float(mean)) / scale if scale > 0 else (0.0 if now == float(mean) else math.inf)
        shifts[name] = round(shift, 6) if math.isfinite(shift) else shift
        if not shift <= max_mean_shift:
            drift.append(
                f"column {name!r}: mean {float(mean):.4g} -> {now:.4g}, a shift of {shift:.2f} standard deviations "
                f"(allowed {max_mean_shift})"
            )
    return {
        "baseline": reference.uri,
        "rows": len(data),
        "baseline_rows": reference.num_rows,
        "schema": schema,
        "drift": drift,
        "quality": quality,
        "mean_shift": shifts,
        "passed": not (schema or drift or quality),
    }


def _family(arrow_type: str) -> str:
    if arrow_type.startswith(("int", "uint")):
        return "integer"
    if arrow_type.startswith(("float", "double", "halffloat")):
        return "float"
    if arrow_type in ("string", "large_string", "utf8", "large_utf8"):
        return "string"
    return arrow_type


def _compatible(before: str, after: str) -> bool:
    """Integer widths, float widths and string offsets may change (a CSV re-read as int32, pandas'
    large strings); kinds may not."""
    return _family(before) == _family(after) and _family(before) in ("integer", "float", "string")


@step(reads_mutable=True)  # the baseline ("previous", an alias) moves as versions are added
def validate(
    data: pd.DataFrame,
    dataset: str,
    version: int | str | None = None,
    baseline: int | str = "previous",
    max_mean_shift: float = 0.5,
    max_null_increase: float = 0.05,
    strict: bool = False,
) -> pd.DataFrame:
    """Check ``data`` against dataset ``dataset``'s ``baseline`` version and pass it on unchanged.

    ``baseline``: ``"previous"`` (the version before ``version``, default the latest), or a version
    number or alias. Raises :class:`ValidationFailed` listing every schema break, drifted column and
    null-fraction jump (thresholds: ``max_mean_shift`` baseline standard deviations,
    ``max_null_increase``; ``strict`` also refuses new columns)."""
    try:
        current, reference = _baseline(dataset, version, baseline)
    except NotFound as exc:
        raise NotFound(f"validate: {exc}") from None
    if reference is None:
        report: dict[str, Any] = {
            "baseline": None,
            "rows": len(data),
            "passed": True,
            "note": f"{current.uri} is the first version",
        }
        log_dict(report, "validation.json")
        return data
    report = compare(data, reference, max_mean_shift, max_null_increase, strict)
    report["validated"] = current.uri
    log_dict(report, "validation.json")
    log_metrics(
        {
            "validation_passed": float(report["passed"]),
            **{f"mean_shift.{k}": v for k, v in report["mean_shift"].items()},
        }
    )
    if not report["passed"]:
        lines = [f"  schema: {m}" for m in report["schema"]]
        lines += [f"  drift: {m}" for m in report["drift"]]
        lines += [f"  quality: {m}" for m in report["quality"]]
        raise ValidationFailed(
            f"validate: the data ({current.uri}) fails against {reference.uri}:\n" + "\n".join(lines), report
        )
    return data
