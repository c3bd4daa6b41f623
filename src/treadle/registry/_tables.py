"""Registry tables: models, versions, tags, aliases with their full history, webhooks."""

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

models = Table(
    "registered_models",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("owner", String(256), nullable=True),
    Column("lifecycle", String(16), nullable=False),  # active | archived
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_id", BigInteger, ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

versions = Table(
    "model_versions",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("model_id", BigInteger, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("status", String(16), nullable=False),  # PENDING | READY | FAILED
    Column("status_message", Text, nullable=True),
    Column("approval", String(16), nullable=False),  # pending | approved | rejected
    Column("approval_by", String(256), nullable=True),
    Column("approval_reason", Text, nullable=True),
    Column("approval_at", BigInteger, nullable=True),
    Column("description", Text, nullable=True),
    Column("flavor", String(64), nullable=True),
    Column("digest", String(64), nullable=True),  # the model manifest's digest, checked again at load
    Column("lifecycle", String(16), nullable=False),  # active | archived
    Column("created_by", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index("ix_model_versions_run_id", "run_id"),
)

version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", BigInteger, ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", BigInteger, ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", BigInteger, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=True),
    Column("protected", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alias_history = Table(
    "model_alias_history",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("model_id", BigInteger, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(256), nullable=True),
    Column("reason", Text, nullable=True),
    Column("at", BigInteger, nullable=False),
    Index("ix_model_alias_history_model_alias", "model_id", "alias", "id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("event_kinds", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("cursor", BigInteger, nullable=False),  # last outbox event id handled
    # One dispatcher at a time per webhook, even with many server workers: a lease in the database.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("delivered", Boolean, nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_webhook_deliveries_webhook_event", "webhook_id", "event_id"),
)
