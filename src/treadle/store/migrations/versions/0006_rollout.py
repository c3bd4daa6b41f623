"""Rollout: deployments and their revisions, per-variant counters, feedback, request-log parts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_deployments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_rollout_deployments_name")),
    )
    op.create_table(
        "rollout_revisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["rollout_deployments.id"],
            name=op.f("fk_rollout_revisions_deployment_id_rollout_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_revisions")),
        sa.UniqueConstraint("deployment_id", "revision", name=op.f("uq_rollout_revisions_deployment_id_revision")),
    )
    op.create_table(
        "rollout_counters",
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["rollout_deployments.id"],
            name=op.f("fk_rollout_counters_deployment_id_rollout_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "revision", "variant", "metric", name=op.f("pk_rollout_counters")),
    )
    op.create_table(
        "rollout_feedback",
        sa.Column("decision_id", sa.String(length=600), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=256), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["rollout_deployments.id"],
            name=op.f("fk_rollout_feedback_deployment_id_rollout_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_rollout_feedback")),
    )
    op.create_index("ix_rollout_feedback_deployment_id", "rollout_feedback", ["deployment_id", "revision"])
    op.create_table(
        "rollout_log_parts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_log_parts")),
        sa.UniqueConstraint("endpoint", "digest", name=op.f("uq_rollout_log_parts_endpoint_digest")),
    )
    op.create_index("ix_rollout_log_parts_endpoint", "rollout_log_parts", ["endpoint", "first_ms"])


def downgrade() -> None:
    op.drop_index("ix_rollout_log_parts_endpoint", table_name="rollout_log_parts")
    op.drop_table("rollout_log_parts")
    op.drop_index("ix_rollout_feedback_deployment_id", table_name="rollout_feedback")
    op.drop_table("rollout_feedback")
    op.drop_table("rollout_counters")
    op.drop_table("rollout_revisions")
    op.drop_table("rollout_deployments")
