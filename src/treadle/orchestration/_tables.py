"""Pipeline tables: registered pipelines, their specs by digest, pipeline runs and step runs.

A run points at the spec it ran by ``(pipeline_id, spec_digest)``, so re-registering a changed
pipeline never changes what an old run shows. Step runs carry the step cache: ``cache_key`` is
indexed and the latest SUCCEEDED row with a key is the cache entry.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from treadle.store import metadata, pk_bigint

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("spec_digest", String(64), nullable=False),  # the latest registered spec
    Column("last_run_id", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

specs = Table(
    "pipeline_specs",
    metadata,
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "pipeline_runs",
    metadata,
    # An autoincrement key orders runs exactly (created_at has millisecond ties); ``id`` is the public uuid.
    Column("seq", pk_bigint, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("trigger_info", JSON, nullable=False),
    Column("executor", String(64), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    Index("ix_pipeline_runs_pipeline_id", "pipeline_id", "seq"),
    Index("ix_pipeline_runs_status", "status", "seq"),
)

step_runs = Table(
    "pipeline_step_runs",
    metadata,
    Column("pipeline_run_id", String(32), ForeignKey("pipeline_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("step", String(256), primary_key=True),
    Column("position", Integer, nullable=False),  # the step's index in the spec's topological order
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("cache_key", String(128), nullable=True),
    Column("cached_from", String(300), nullable=True),
    Column("outputs", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Column("executor", String(64), nullable=True),
    Index("ix_pipeline_step_runs_cache_key", "cache_key"),
)
