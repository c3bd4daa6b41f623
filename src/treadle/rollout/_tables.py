"""Rollout tables: deployments and their revisions, per-variant counters, feedback, request-log parts.

Counters are one row per (deployment, revision, variant, metric) holding a count ``n`` and a float
``total``, so every report is an ``INSERT ... ON CONFLICT DO UPDATE SET n = n + :d`` — atomic on
SQLite and PostgreSQL with no read-modify-write, whatever the number of serving processes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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

deployments = Table(
    "rollout_deployments",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("revision", Integer, nullable=False),  # the current revision
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

revisions = Table(
    "rollout_revisions",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("deployment_id", BigInteger, ForeignKey("rollout_deployments.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the canonical spec JSON
    Column("status", String(16), nullable=False),  # active | promoted | rolled_back
    Column("reason", Text, nullable=True),
    Column("created_by", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("deployment_id", "revision"),
)

counters = Table(
    "rollout_counters",
    metadata,
    Column("deployment_id", BigInteger, ForeignKey("rollout_deployments.id", ondelete="CASCADE"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("variant", String(256), primary_key=True),
    Column("metric", String(32), primary_key=True),  # requests, errors, lat_<i>, shadow_*, reward, reward_sq
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)

feedback = Table(
    "rollout_feedback",
    metadata,
    Column("decision_id", String(600), primary_key=True),  # one reward per decision
    Column("deployment_id", BigInteger, ForeignKey("rollout_deployments.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("variant", String(256), nullable=False),
    Column("reward", Float, nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_rollout_feedback_deployment_id", "deployment_id", "revision"),
)

log_parts = Table(
    "rollout_log_parts",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("endpoint", "digest"),
    Index("ix_rollout_log_parts_endpoint", "endpoint", "first_ms"),
)

# Which part holds each logged request, so labels delivered later can be checked and joined by id.
log_requests = Table(
    "rollout_log_requests",
    metadata,
    Column("endpoint", String(256), nullable=False),
    Column("request_id", String(256), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("part_id", BigInteger, ForeignKey("rollout_log_parts.id", ondelete="CASCADE"), nullable=False),
    Index("ix_rollout_log_requests_id", "request_id", "endpoint"),
    Index("ix_rollout_log_requests_time", "endpoint", "time_ms"),  # labels of a window's span
)
