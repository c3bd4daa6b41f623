"""Manifest table: logical path -> blob digest, grouped by manifest (one per run, model, ...)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from treadle.store import metadata

files_table = Table(
    "artifact_files",
    metadata,
    Column("manifest", String(128), primary_key=True),  # e.g. "run/<run id>"
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_artifact_files_digest", "digest"),
)
