"""businesses.country: the country whose public holidays a schedule's business days skip
when the schedule names none

Revision ID: 8fe9a0b1c2d3
Revises: 7ed8f9a0b1c2
Create Date: 2026-12-05 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "8fe9a0b1c2d3"
down_revision: str | None = "7ed8f9a0b1c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing.
    op.add_column("businesses", sa.Column("country", sa.String(2), nullable=True))


def downgrade() -> None:
    op.drop_column("businesses", "country")
