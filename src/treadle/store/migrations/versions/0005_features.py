"""Feature store: entities, feature views and their versions, materialization watermarks and runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_entities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("join_keys", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_entities")),
        sa.UniqueConstraint("name", name=op.f("uq_feature_entities_name")),
    )
    op.create_table(
        "feature_views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_views")),
        sa.UniqueConstraint("name", name=op.f("uq_feature_views_name")),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("view_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), nullable=True),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["view_id"],
            ["feature_views.id"],
            name=op.f("fk_feature_materializations_view_id_feature_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_materializations")),
    )
    op.create_index(
        "ix_feature_materializations_view_id_id", "feature_materializations", ["view_id", "id"], unique=False
    )
    op.create_table(
        "feature_view_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("view_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["view_id"],
            ["feature_views.id"],
            name=op.f("fk_feature_view_versions_view_id_feature_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_view_versions")),
        sa.UniqueConstraint("view_id", "version", name=op.f("uq_feature_view_versions_view_id_version")),
    )
    op.create_table(
        "feature_watermarks",
        sa.Column("view_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("materialized_until", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["view_id"],
            ["feature_views.id"],
            name=op.f("fk_feature_watermarks_view_id_feature_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("view_id", name=op.f("pk_feature_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("feature_watermarks")
    op.drop_table("feature_view_versions")
    op.drop_index("ix_feature_materializations_view_id_id", table_name="feature_materializations")
    op.drop_table("feature_materializations")
    op.drop_table("feature_views")
    op.drop_table("feature_entities")
