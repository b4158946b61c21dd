"""Reports: a drill flag on transfers, so drills and demos stay out of the figures.

Revision ID: 0003
Revises: 0002 (table versions)
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every transfer stored before this revision was recorded as a real one: false.
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("drill")
