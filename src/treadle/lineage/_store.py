"""Lineage tables: nodes (artifact / execution / context) and the edges between them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from treadle.store import metadata, pk_bigint

nodes_table = Table(
    "lineage_nodes",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # artifact | execution | context
    Column("type", String(128), nullable=False),  # e.g. treadle.Run, treadle.File, treadle.Dataset
    Column("name", String(512), nullable=False),
    Column("uri", Text, nullable=True),
    # A stable handle for the object a node stands for ("run:<id>"), so recording is idempotent.
    Column("external_id", String(512), nullable=True, unique=True),
    Column("properties", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_lineage_nodes_kind_type", "kind", "type"),
)

# input/output events join executions and artifacts; attribution joins contexts and
# artifacts; association joins contexts and executions. One table, ``type`` says which.
edges_table = Table(
    "lineage_edges",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("type", String(16), nullable=False),  # input | output | attribution | association
    Column("source_id", BigInteger, ForeignKey("lineage_nodes.id", ondelete="CASCADE"), nullable=False),
    Column("target_id", BigInteger, ForeignKey("lineage_nodes.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1024), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("type", "source_id", "target_id"),
    Index("ix_lineage_edges_target", "target_id"),
)
