"""Dataset tables: datasets, their immutable versions, searchable columns, tags and aliases."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from treadle.store import metadata, pk_bigint

datasets = Table(
    "datasets",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", BigInteger, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

versions = Table(
    "dataset_versions",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("dataset_id", BigInteger, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 over the sorted (path, digest) manifest
    Column("kind", String(16), nullable=False),  # table | files
    Column("num_rows", BigInteger, nullable=False),
    Column("num_files", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("source", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("created_by", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    Index("ix_dataset_versions_digest", "digest"),
)

columns = Table(
    "dataset_columns",
    metadata,
    Column("version_id", BigInteger, ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(512), nullable=False),
    Column("type", String(256), nullable=False),
    Index("ix_dataset_columns_name", "name"),
)

aliases = Table(
    "dataset_aliases",
    metadata,
    Column("dataset_id", BigInteger, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
