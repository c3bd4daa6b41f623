"""Monitoring: monitors, evaluated windows, alert states, labels; the request-id index of request logs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=True),
        sa.Column("cursor_ms", sa.BigInteger(), nullable=True),
        sa.Column("cursor_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("drift_share", sa.Float(), nullable=True),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], name=op.f("fk_monitor_windows_monitor_id_monitors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
        sa.UniqueConstraint(
            "monitor_id", "start_ms", "end_ms", name=op.f("uq_monitor_windows_monitor_id_start_ms_end_ms")
        ),
    )
    op.create_index("ix_monitor_windows_monitor_end", "monitor_windows", ["monitor_id", "end_ms"])
    op.create_table(
        "monitor_alerts",
        sa.Column("monitor_id", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], name=op.f("fk_monitor_alerts_monitor_id_monitors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("monitor_id", "rule", name=op.f("pk_monitor_alerts")),
    )
    op.create_table(
        "monitor_labels",
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("label", sa.JSON(), nullable=True),
        sa.Column("logged_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "request_id", name=op.f("pk_monitor_labels")),
    )
    op.create_table(
        "rollout_log_requests",
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("part_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["rollout_log_parts.id"],
            name=op.f("fk_rollout_log_requests_part_id_rollout_log_parts"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_rollout_log_requests_id", "rollout_log_requests", ["request_id", "endpoint"])
    op.create_index("ix_rollout_log_requests_time", "rollout_log_requests", ["endpoint", "time_ms"])


def downgrade() -> None:
    op.drop_index("ix_rollout_log_requests_time", table_name="rollout_log_requests")
    op.drop_index("ix_rollout_log_requests_id", table_name="rollout_log_requests")
    op.drop_table("rollout_log_requests")
    op.drop_table("monitor_labels")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_windows_monitor_end", table_name="monitor_windows")
    op.drop_table("monitor_windows")
    op.drop_table("monitors")
