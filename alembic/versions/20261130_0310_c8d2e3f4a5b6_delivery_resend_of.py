"""delivery resend_of

Revision ID: c8d2e3f4a5b6
Revises: b7c1d2e3f4a5
Create Date: 2026-11-30 03:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c8d2e3f4a5b6"
down_revision: str | None = "b7c1d2e3f4a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A resend's new delivery names the one it sends again; deleting that one keeps the
    # resend (SET NULL). Indexed so deleting deliveries does not scan for their resends.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resend_of", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_deliveries_resend_of", ["resend_of"], unique=False)
        batch_op.create_foreign_key(
            "fk_deliveries_resend_of_deliveries",
            "deliveries",
            ["resend_of"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_resend_of_deliveries", type_="foreignkey")
        batch_op.drop_index("ix_deliveries_resend_of")
        batch_op.drop_column("resend_of")
