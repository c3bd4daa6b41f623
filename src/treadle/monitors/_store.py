"""Rows of the monitoring tables and the records they become.

Reports are kept as JSON; PostgreSQL's ``json`` type refuses NaN and infinities, so non-finite
floats are stored as the strings ``"NaN"``/``"Infinity"``/``"-Infinity"`` (pydantic parses those
back into typed float fields; the free-form ``detail`` of a column is decoded here).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, select

from treadle.errors import NotFound
from treadle.monitors import _tables as t
from treadle.monitors._records import AlertState, ColumnDrift, Monitor, MonitorSpec, ReferenceInfo, WindowReport

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def not_found(name: str) -> NotFound:
    return NotFound(f"monitor {name!r} does not exist (`treadle monitor list` shows the monitors)")


def monitor_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(t.monitors).where(t.monitors.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()  # serialise rival runners (SQLite's BEGIN IMMEDIATE already does)
    row = conn.execute(query).first()
    if row is None:
        raise not_found(name)
    return row


def to_monitor(row: Any) -> Monitor:
    return Monitor(
        name=row.name,
        spec=MonitorSpec.model_validate(row.spec),
        reference=None if row.reference is None else ReferenceInfo.model_validate(row.reference),
        cursor_ms=row.cursor_ms,
        cursor_id=row.cursor_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run_at=row.last_run_at,
        last_error=row.last_error,
    )


def encode(value: Any) -> Any:
    """``value`` with non-finite floats as strings, so any JSON column accepts it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars from the drift engine
        return encode(value.tolist())
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def report_json(report: WindowReport) -> dict[str, Any]:
    data: dict[str, Any] = encode(report.model_dump(mode="python"))
    return data


def to_window(data: dict[str, Any]) -> WindowReport:
    report = WindowReport.model_validate(data)
    # Typed floats were parsed back by pydantic; the free-form drill-down details are decoded here.
    columns = [_column(c) for c in report.columns]
    prediction = None if report.prediction is None else _column(report.prediction)
    return report.model_copy(update={"columns": columns, "prediction": prediction})


def _column(col: ColumnDrift) -> ColumnDrift:
    return col.model_copy(update={"detail": _decode(col.detail)}) if col.detail else col


def to_alert(name: str, row: Any) -> AlertState:
    return AlertState(
        monitor=name,
        rule=row.rule,
        state=row.state,
        breaches=row.breaches,
        passes=row.passes,
        value=row.value,
        since_ms=row.since_ms,
        updated_at=row.updated_at,
    )
