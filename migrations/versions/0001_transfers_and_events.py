"""Transfers and their event log.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=True),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("psap_id", sa.String(64), nullable=True),
        sa.Column("first_center_id", sa.String(64), nullable=True),
        sa.Column("connected_center_id", sa.String(64), nullable=True),
        sa.Column("area_code_center_id", sa.String(64), nullable=True),
        sa.Column("county_fips", sa.String(5), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("risk", sa.String(16), nullable=True),
        sa.Column("call_type", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("veteran", sa.Boolean(), nullable=True),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        sa.Column("caller_encrypted", sa.Text(), nullable=True),
        sa.Column("summary_encrypted", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("personal_purged_at", _TIME, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False, server_default="in_progress"),
        sa.Column("outcome_reason", sa.String(64), nullable=True),
        sa.Column("area_code_differs", sa.Boolean(), nullable=True),
        sa.Column("ambiguous", sa.Boolean(), nullable=True),
        sa.Column("rollovers", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("dial_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("escalated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("escalation_answered", sa.Boolean(), nullable=True),
        sa.Column("caller_hung_up_s", sa.Double(), nullable=True),
        sa.Column("route_s", sa.Double(), nullable=True),
        sa.Column("answer_s", sa.Double(), nullable=True),
        sa.Column("accept_s", sa.Double(), nullable=True),
        sa.Column("handoff_s", sa.Double(), nullable=True),
        sa.Column("total_s", sa.Double(), nullable=True),
        sa.Column("escalation_answer_s", sa.Double(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_caller_hash", "transfers", ["caller_hash"])
    op.create_index("ix_transfers_started_at", "transfers", ["started_at"])
    op.create_index("ix_transfers_psap_started", "transfers", ["psap_id", "started_at"])
    op.create_index("ix_transfers_center_started", "transfers", ["first_center_id", "started_at"])
    op.create_index(
        "ix_transfers_connected_started", "transfers", ["connected_center_id", "started_at"]
    )
    op.create_index("ix_transfers_purge", "transfers", ["personal_purged_at", "started_at"])

    op.create_table(
        "transfer_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_events"),
        sa.UniqueConstraint("key", name="uq_transfer_events_key"),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.transfer_id"],
            name="fk_transfer_events_transfer_id_transfers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_transfer_events_transfer_at", "transfer_events", ["transfer_id", "at"])
    op.create_index("ix_transfer_events_kind", "transfer_events", ["kind"])


def downgrade() -> None:
    op.drop_table("transfer_events")
    op.drop_table("transfers")
