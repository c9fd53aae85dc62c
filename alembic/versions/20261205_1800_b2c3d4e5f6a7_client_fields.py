"""Clients: secondary_phone, address, notes, is_active and the values of the business's
own fields (`fields`); client_fields, the businesses' definitions of those fields

Revision ID: b2c3d4e5f6a7
Revises: a1b2c3d4e5f6
Create Date: 2026-12-05 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from core.types import UTCDateTime

revision: str = "b2c3d4e5f6a7"
down_revision: str | None = "a1b2c3d4e5f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_fields",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_fields")),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            ondelete="CASCADE",
            name=op.f("fk_client_fields_business_id_businesses"),
        ),
        sa.UniqueConstraint("business_id", "name", name=op.f("uq_client_fields_business_id_name")),
    )
    # Nullable or with a constant default: adding them rewrites no existing row.
    op.add_column("clients", sa.Column("secondary_phone", sa.String(20), nullable=True))
    op.add_column("clients", sa.Column("address", sa.String(500), nullable=True))
    op.add_column("clients", sa.Column("notes", sa.Text(), nullable=True))
    op.add_column(
        "clients",
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column(
        "clients", sa.Column("fields", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
    )


def downgrade() -> None:
    # Not batch mode: SQLite's copy of the table would lose the expression index on
    # lower(name), which it cannot reflect. Its DROP COLUMN (3.35+) needs no copy.
    for column in ("fields", "is_active", "notes", "address", "secondary_phone"):
        op.drop_column("clients", column)
    op.drop_table("client_fields")
