"""Study tables: one row per study (with summary counters kept up to date on append) and its journal.

The journal is Optuna's: each log is one JSON operation (create trial, set param, set state, ...)
numbered from 0 per study. ``n_logs`` on the study row is the next number, so an append is one
``UPDATE ... RETURNING`` (which also locks the row on PostgreSQL) plus one multi-row ``INSERT``.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Integer, String, Table, Text

from treadle.store import metadata, pk_bigint

studies = Table(
    "studies",
    metadata,
    Column("id", pk_bigint, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("directions", JSON, nullable=False),  # ["minimize", ...]
    Column("run_id", String(32), nullable=True),  # the study's tracked parent run
    Column("n_logs", BigInteger, nullable=False),
    Column("n_trials", Integer, nullable=False),
    Column("n_complete", Integer, nullable=False),
    Column("n_pruned", Integer, nullable=False),
    Column("n_failed", Integer, nullable=False),
    Column("best_value", Float, nullable=True),  # single-objective studies only
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

study_logs = Table(
    "study_logs",
    metadata,
    Column("study_id", BigInteger, ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("body", Text, nullable=False),  # one Optuna journal operation, JSON
)
