"""Published routing table versions, their files, the tables' audit log and draft (issue 12).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "table_versions",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("published_at", _TIME, nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_table_versions"),
        sa.UniqueConstraint("content_hash", name="uq_table_versions_content_hash"),
    )
    op.create_table(
        "table_version_files",
        sa.Column("version_id", sa.String(12), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["table_versions.id"],
            name="fk_table_version_files_version_id_table_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "path", name="pk_table_version_files"),
    )
    op.create_table(
        "table_events",
        sa.Column("id", _EVENT_ID, autoincrement=True, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("version_id", sa.String(12), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("activates", sa.Boolean(), nullable=False),
        sa.Column("effective_at", _TIME, nullable=True),
        sa.Column("once", sa.String(32), nullable=True),
        sa.UniqueConstraint("once", name="uq_table_events_once"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["table_versions.id"], name="fk_table_events_version_id_table_versions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_table_events"),
    )
    op.create_index(
        "ix_table_events_activates_effective_at", "table_events", ["activates", "effective_at"]
    )
    op.create_table(
        "table_drafts",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("base_version", sa.String(12), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_table_drafts"),
    )


def downgrade() -> None:
    op.drop_table("table_drafts")
    op.drop_index("ix_table_events_activates_effective_at", table_name="table_events")
    op.drop_table("table_events")
    op.drop_table("table_version_files")
    op.drop_table("table_versions")
