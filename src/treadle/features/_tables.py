"""Feature store tables: entities, feature views with immutable versions, materialization state.

Timestamps are epoch milliseconds UTC (``now_ms()``), like every treadle table.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from treadle.store import metadata, pk_bigint

entities = Table(
    "feature_entities",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("join_keys", JSON, nullable=False),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

views = Table(
    "feature_views",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # feature_view | on_demand_feature_view
    Column("latest_version", Integer, nullable=False),
    Column("online", Boolean, nullable=False),
    Column("owner", String(256), nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

view_versions = Table(
    "feature_view_versions",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("view_id", BigInteger, ForeignKey("feature_views.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", JSON, nullable=False),  # the full definition, as FeatureView.spec() gives it
    Column("digest", String(64), nullable=False),  # sha256 of the comparable spec
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("view_id", "version"),
)

# One row per feature view: how far the online store holds its data (written by materialize).
watermarks = Table(
    "feature_watermarks",
    metadata,
    Column("view_id", BigInteger, ForeignKey("feature_views.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, nullable=False),  # the view version the online rows were written with
    Column("materialized_until", BigInteger, nullable=True),  # event time (epoch ms, exclusive) covered
    Column("rows", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Materialization runs, for history, progress in the UI and rerunning an interrupted one.
materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("view_id", BigInteger, ForeignKey("feature_views.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("start_ts", BigInteger, nullable=True),  # event-time window [start_ts, end_ts), epoch ms
    Column("end_ts", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # running | completed | failed
    Column("error", Text, nullable=True),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Index("ix_feature_materializations_view_id_id", "view_id", "id"),
)
