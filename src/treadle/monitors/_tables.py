"""Monitoring tables: monitors, their evaluated windows, alert states and delivered labels.

A window's whole report is kept as JSON (``report``); the columns beside it are what the pages and
the alert queries filter and sort on.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from treadle.store import metadata, pk_bigint

monitors = Table(
    "monitors",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("spec", JSON, nullable=False),
    Column("reference", JSON, nullable=True),
    Column("cursor_ms", BigInteger, nullable=True),
    Column("cursor_id", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_run_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("monitor_id", BigInteger, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drift_share", Float, nullable=True),
    Column("dataset_drift", Boolean, nullable=False),
    Column("report", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("monitor_id", "start_ms", "end_ms"),
    Index("ix_monitor_windows_monitor_end", "monitor_id", "end_ms"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("monitor_id", BigInteger, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
    Column("rule", String(256), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("breaches", Integer, nullable=False),
    Column("passes", Integer, nullable=False),
    Column("value", Float, nullable=True),
    Column("since_ms", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
)

monitor_labels = Table(
    "monitor_labels",
    metadata,
    Column("endpoint", String(256), primary_key=True),
    Column("request_id", String(256), primary_key=True),
    Column("label", JSON, nullable=True),
    Column("logged_at", BigInteger, nullable=False),
)
