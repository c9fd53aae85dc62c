"""reminders.sender_identity_ids: the sender identity a reminder names per channel

Revision ID: a7b8c9d0e1f2
Revises: d4e5f6a7b8c9
Create Date: 2026-12-05 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a7b8c9d0e1f2"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing (null: each channel's default).
    op.add_column("reminders", sa.Column("sender_identity_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("reminders", "sender_identity_ids")
