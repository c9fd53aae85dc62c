"""A fallback asked for but not yet taken by the reminder's workflow:
deliveries.fallback_channel (the channel chosen when the delivery failed late) and
deliveries.fallback_requested_at (set until the workflow took the resend, so the worker
sends it once Temporal is back)

Revision ID: b8c9d0e1f2a3
Revises: e5f6a7b8c9d0
Create Date: 2026-12-05 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.types import UTCDateTime

revision: str = "b8c9d0e1f2a3"
down_revision: str | None = "e5f6a7b8c9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("fallback_channel", sa.String(20), nullable=True))
    op.add_column("deliveries", sa.Column("fallback_requested_at", UTCDateTime(), nullable=True))
    op.create_index("ix_deliveries_fallback_requested_at", "deliveries", ["fallback_requested_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_fallback_requested_at", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("fallback_requested_at")
        batch.drop_column("fallback_channel")
