"""twilio credentials; email configurations named by reminders and sender identities

Revision ID: f3a4b5c6d7e8
Revises: e2f3a4b5c6d7
Create Date: 2026-11-30 05:09:08.574439
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "f3a4b5c6d7e8"
down_revision: str | None = "e2f3a4b5c6d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A business's own Twilio account (the token only as Fernet ciphertext), and the SMTP
    # server a reminder or an email sender identity names.
    op.create_table(
        "twilio_credentials",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("auth_token_encrypted", sa.Text(), nullable=False),
        sa.Column("messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_twilio_credentials_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_credentials")),
        sa.UniqueConstraint("business_id", name=op.f("uq_twilio_credentials_business_id")),
    )
    with op.batch_alter_table("twilio_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_twilio_credentials_account_sid"), ["account_sid"], unique=False
        )

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_configuration_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_reminders_email_configuration_id"),
            ["email_configuration_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_reminders_email_configuration_id_email_configurations"),
            "email_configurations",
            ["email_configuration_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("sender_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_configuration_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sender_identities_email_configuration_id"),
            ["email_configuration_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            "fk_sender_identities_email_configuration_id",
            "email_configurations",
            ["email_configuration_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("sender_identities", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sender_identities_email_configuration_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sender_identities_email_configuration_id"))
        batch_op.drop_column("email_configuration_id")

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reminders_email_configuration_id_email_configurations"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_reminders_email_configuration_id"))
        batch_op.drop_column("email_configuration_id")

    with op.batch_alter_table("twilio_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twilio_credentials_account_sid"))

    op.drop_table("twilio_credentials")
