"""The spine: events outbox, lineage graph, artifact manifests.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

pk_bigint = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", pk_bigint, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_kind_id", "events", ["kind", "id"])

    op.create_table(
        "lineage_nodes",
        sa.Column("id", pk_bigint, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("uri", sa.Text, nullable=True),
        sa.Column("external_id", sa.String(512), nullable=True),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_nodes"),
        sa.UniqueConstraint("external_id", name="uq_lineage_nodes_external_id"),
    )
    op.create_index("ix_lineage_nodes_kind_type", "lineage_nodes", ["kind", "type"])
    op.create_table(
        "lineage_edges",
        sa.Column("id", pk_bigint, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=False),
        sa.Column("target_id", sa.BigInteger, nullable=False),
        sa.Column("path", sa.String(1024), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["lineage_nodes.id"],
            ondelete="CASCADE",
            name="fk_lineage_edges_source_id_lineage_nodes",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["lineage_nodes.id"],
            ondelete="CASCADE",
            name="fk_lineage_edges_target_id_lineage_nodes",
        ),
        sa.UniqueConstraint("type", "source_id", "target_id", name="uq_lineage_edges_type_source_id_target_id"),
    )
    op.create_index("ix_lineage_edges_target", "lineage_edges", ["target_id"])

    op.create_table(
        "artifact_files",
        sa.Column("manifest", sa.String(128), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("manifest", "path", name="pk_artifact_files"),
    )
    op.create_index("ix_artifact_files_digest", "artifact_files", ["digest"])


def downgrade() -> None:
    for table in ("artifact_files", "lineage_edges", "lineage_nodes", "events"):
        op.drop_table(table)
