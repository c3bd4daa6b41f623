"""Access-control tables. They live in the server's main store (the ``default`` workspace's
database), which is the control plane for every workspace."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from treadle.store import metadata, pk_bigint

users = Table(
    "access_users",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=True),
    Column("admin", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

tokens = Table(
    "access_tokens",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("access_users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

sessions = Table(
    "access_sessions",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("access_users.id", ondelete="CASCADE"), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

workspaces = Table(
    "access_workspaces",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

members = Table(
    "access_members",
    metadata,
    Column("workspace_id", BigInteger, ForeignKey("access_workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("access_users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
)

audit = Table(
    "access_audit",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("user", String(256), nullable=False),
    Column("workspace", String(64), nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("operation", String(256), nullable=False),
    Column("status", Integer, nullable=False),
    Column("remote", String(128), nullable=False),
    Index("ix_access_audit_workspace_at", "workspace", "at"),
)
