"""reminders.last_occurrence: the workflow's last occurrence key on its row, so that a read
answers it without asking the workflow

Revision ID: 5cb6d7e8f9a0
Revises: 4baea523f7ef
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5cb6d7e8f9a0"
down_revision: str | None = "4baea523f7ef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing; a running reminder fills it at its
    # next occurrence.
    op.add_column("reminders", sa.Column("last_occurrence", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("reminders", "last_occurrence")
