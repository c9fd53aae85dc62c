"""email configurations

Revision ID: d1e2f3a4b5c6
Revises: c8d2e3f4a5b6
Create Date: 2026-11-30 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "d1e2f3a4b5c6"
down_revision: str | None = "c8d2e3f4a5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A business's own SMTP servers; the password column holds Fernet ciphertext only.
    op.create_table(
        "email_configurations",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=10), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_email_configurations_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_configurations")),
        sa.UniqueConstraint(
            "business_id", "name", name=op.f("uq_email_configurations_business_id_name")
        ),
    )
    with op.batch_alter_table("email_configurations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_configurations_business_id"), ["business_id"], unique=False
        )
        batch_op.create_index(
            "uq_email_configurations_default",
            ["business_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )


def downgrade() -> None:
    with op.batch_alter_table("email_configurations", schema=None) as batch_op:
        batch_op.drop_index("uq_email_configurations_default")
        batch_op.drop_index(batch_op.f("ix_email_configurations_business_id"))
    op.drop_table("email_configurations")
