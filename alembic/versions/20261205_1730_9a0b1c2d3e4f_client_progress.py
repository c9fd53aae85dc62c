"""Chasing each client until done: client_progress and client_documents, deliveries.period,
reminders.escalate_after and escalate_to_user_id (no foreign key: a removed staff member's
escalations go to whoever created the reminder)

Revision ID: 9a0b1c2d3e4f
Revises: 8fe9a0b1c2d3
Create Date: 2026-12-05 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.types import UTCDateTime

revision: str = "9a0b1c2d3e4f"
down_revision: str | None = "8fe9a0b1c2d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owned() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("reminder_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
    ]


def _keys(table: str) -> list[sa.Constraint]:
    return [
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            ondelete="CASCADE",
            name=op.f(f"fk_{table}_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["reminder_id"],
            ["reminders.id"],
            ondelete="CASCADE",
            name=op.f(f"fk_{table}_reminder_id_reminders"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            ondelete="CASCADE",
            name=op.f(f"fk_{table}_client_id_clients"),
        ),
    ]


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "client_progress",
        *_owned(),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_source", sa.String(20), nullable=True),
        sa.Column("done_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("escalated_after", sa.Integer(), nullable=True),
        *_stamps(),
        *_keys("client_progress"),
        sa.ForeignKeyConstraint(
            ["done_by_user_id"],
            ["users.id"],
            ondelete="SET NULL",
            name=op.f("fk_client_progress_done_by_user_id_users"),
        ),
        sa.UniqueConstraint(
            "reminder_id",
            "period",
            "client_id",
            name=op.f("uq_client_progress_reminder_id_period_client_id"),
        ),
    )
    op.create_index(
        "ix_client_progress_business_id_state", "client_progress", ["business_id", "state"]
    )
    op.create_table(
        "client_documents",
        *_owned(),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        *_stamps(),
        *_keys("client_documents"),
    )
    op.create_index(
        "ix_client_documents_reminder_id_client_id",
        "client_documents",
        ["reminder_id", "client_id"],
    )
    # Nullable, no default: adding them rewrites nothing.
    op.add_column("deliveries", sa.Column("period", sa.String(32), nullable=True))
    op.create_index("ix_deliveries_reminder_id_period", "deliveries", ["reminder_id", "period"])
    op.add_column("reminders", sa.Column("escalate_after", sa.Integer(), nullable=True))
    op.add_column("reminders", sa.Column("escalate_to_user_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("escalate_to_user_id")
        batch.drop_column("escalate_after")
    op.drop_index("ix_deliveries_reminder_id_period", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("period")
    op.drop_index("ix_client_documents_reminder_id_client_id", table_name="client_documents")
    op.drop_table("client_documents")
    op.drop_index("ix_client_progress_business_id_state", table_name="client_progress")
    op.drop_table("client_progress")
