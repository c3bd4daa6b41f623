"""Tracking tables: experiments, runs, params, tags, metric points, latest values, rollups."""

from __future__ import annotations

from sqlalchemy import (
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
)

from treadle.store import metadata, pk_bigint

experiments = Table(
    "experiments",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("lifecycle", String(16), nullable=False),  # active | deleted
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", BigInteger, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", BigInteger, ForeignKey("experiments.id"), nullable=False),
    Column("parent_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("description", Text, nullable=True),
    Column("lifecycle", String(16), nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    # skewed: one experiment often holds most runs (see store._stats), so SQLite plans for the largest
    Index("ix_runs_experiment_lifecycle_start", "experiment_id", "lifecycle", "start_time", info={"skewed": True}),
    Index("ix_runs_parent", "parent_id"),
)

params = Table(
    "run_params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_run_params_key_value", "key", "value"),
)

tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every point, append-only. The whole point is the key, so a re-sent point is a no-op.
# NaN is stored as value 0 with is_nan set: SQLite would turn a NaN into NULL.
metric_points = Table(
    "metric_points",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("value", Float, primary_key=True),
    Column("is_nan", Boolean, primary_key=True),
    sqlite_with_rowid=False,
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

# Per-bucket aggregates at coarser and coarser step widths (see _metrics.ROLLUP_WIDTHS), so a
# chart of a million points reads a few thousand rows.
metric_rollups = Table(
    "metric_rollups",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("min", Float, nullable=True),
    Column("max", Float, nullable=True),
    Column("sum", Float, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("last_timestamp", BigInteger, nullable=False),
    Column("last_value", Float, nullable=True),
    sqlite_with_rowid=False,
)
