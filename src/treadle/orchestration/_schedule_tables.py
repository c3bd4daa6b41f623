"""Schedule tables: triggers, their fires, and the scheduler's lease.

``pipeline_schedule_fires`` has the primary key (schedule, fire key): a fire inserts its row and
queues the pipeline run in one transaction, so a second fire of the same cron slot or the same
event — after a scheduler restart, or from a second scheduler — inserts nothing and queues nothing.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, String, Table

from treadle.store import metadata, pk_bigint

schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("pipeline", String(256), nullable=False),
    Column("kind", String(16), nullable=False),  # cron | event | pipeline | webhook
    Column("cron", String(256), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("events", JSON, nullable=False),  # event kinds (kind="event"; "pipeline" implies pipeline_run_finished)
    Column("filter", JSON, nullable=False),
    Column("upstream", String(256), nullable=True),
    Column("params", JSON, nullable=False),
    Column("token_hash", String(64), nullable=True),  # kind="webhook": sha256 of the token
    Column("enabled", Boolean, nullable=False),
    Column("next_at", BigInteger, nullable=True),  # kind="cron": the next due slot (ms)
    Column("cursor", BigInteger, nullable=False),  # event kinds: the last outbox event id looked at
    Column("last_fired_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_pipeline_schedules_pipeline", "pipeline"),
)

fires = Table(
    "pipeline_schedule_fires",
    metadata,
    Column("schedule_id", BigInteger, ForeignKey("pipeline_schedules.id", ondelete="CASCADE"), primary_key=True),
    Column("fire_key", String(256), primary_key=True),  # the cron slot's ISO time, "event:<id>", a request key
    Column("pipeline_run_id", String(32), nullable=False),
    Column("fired_at", BigInteger, nullable=False),
)

leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
