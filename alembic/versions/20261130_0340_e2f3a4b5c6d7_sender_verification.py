"""sender identity verification codes

Revision ID: e2f3a4b5c6d7
Revises: d1e2f3a4b5c6
Create Date: 2026-11-30 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "e2f3a4b5c6d7"
down_revision: str | None = "d1e2f3a4b5c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only an HMAC of the pending code is stored, with its expiry and tries; the count of
    # codes sent in the current hour limits how often a code may be sent.
    with op.batch_alter_table("sender_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verification_code_hash", sa.String(128), nullable=True))
        batch_op.add_column(
            sa.Column("verification_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "verification_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "verification_sent_count",
                sa.Integer(),
                server_default=sa.text("0"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("verification_window_started_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sender_identities", schema=None) as batch_op:
        batch_op.drop_column("verification_window_started_at")
        batch_op.drop_column("verification_sent_count")
        batch_op.drop_column("verification_attempts")
        batch_op.drop_column("verification_expires_at")
        batch_op.drop_column("verification_code_hash")
