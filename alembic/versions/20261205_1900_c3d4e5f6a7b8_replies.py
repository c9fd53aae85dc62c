"""Client replies: replies (an inbound SMS or WhatsApp that is no keyword, linked to its
client and to the latest delivery that reached them on that channel; a retried webhook is
stored once by its MessageSid per business)

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
Create Date: 2026-12-05 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.types import UTCDateTime

revision: str = "c3d4e5f6a7b8"
down_revision: str | None = "b2c3d4e5f6a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _foreign_key(column: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], ondelete=ondelete, name=op.f(f"fk_replies_{column}_{table}")
    )


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_sid", sa.String(64), nullable=True),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("reminder_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        _foreign_key("business_id", "businesses", "CASCADE"),
        _foreign_key("client_id", "clients", "CASCADE"),
        _foreign_key("delivery_id", "deliveries", "SET NULL"),
        _foreign_key("reminder_id", "reminders", "SET NULL"),
        sa.UniqueConstraint(
            "business_id", "message_sid", name=op.f("uq_replies_business_id_message_sid")
        ),
    )
    op.create_index(op.f("ix_replies_client_id"), "replies", ["client_id"])
    op.create_index("ix_replies_business_id_received_at", "replies", ["business_id", "received_at"])
    op.create_index("ix_replies_business_id_read_at", "replies", ["business_id", "read_at"])
    op.create_index("ix_replies_reminder_id", "replies", ["reminder_id"])


def downgrade() -> None:
    op.drop_index("ix_replies_reminder_id", table_name="replies")
    op.drop_index("ix_replies_business_id_read_at", table_name="replies")
    op.drop_index("ix_replies_business_id_received_at", table_name="replies")
    op.drop_index(op.f("ix_replies_client_id"), table_name="replies")
    op.drop_table("replies")
