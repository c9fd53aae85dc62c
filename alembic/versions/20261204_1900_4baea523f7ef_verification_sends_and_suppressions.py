"""verification code sends (limits and usage); suppressions (opt-outs only the client lifts)

Revision ID: 4baea523f7ef
Revises: f3a4b5c6d7e8
Create Date: 2026-12-04 19:00:00.000000
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

revision: str = "4baea523f7ef"
down_revision: str | None = "f3a4b5c6d7e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Opt-outs the client made themselves, as app events record their source.
CLIENT_SOURCES = ("inbound_keyword", "unsubscribe_link", "twilio_error_21610")


def upgrade() -> None:
    op.create_table(
        "verification_sends",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("destination_digest", sa.String(length=64), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_verification_sends_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_sends")),
    )
    op.create_index(
        "ix_verification_sends_destination_sent_at",
        "verification_sends",
        ["destination_digest", "sent_at"],
    )
    op.create_index(
        "ix_verification_sends_business_id_sent_at",
        "verification_sends",
        ["business_id", "sent_at"],
    )
    suppressions = op.create_table(
        "suppressions",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_suppressions_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint(
            "business_id",
            "channel",
            "address",
            name=op.f("uq_suppressions_business_id_channel_address"),
        ),
    )
    _backfill(suppressions)


def _backfill(suppressions: sa.Table) -> None:
    """Clients still opted out of a channel by their own doing (an event with a client's
    source says so) get their address suppressed; staff-made opt-outs stay staff's."""
    bind = op.get_bind()
    events = bind.execute(
        sa.text(
            "SELECT subject_id, payload FROM app_events "
            "WHERE action = 'client.opted_out' AND subject_type = 'client'"
        )
    ).all()
    by_client: dict[str, set[tuple[str, str]]] = {}
    for subject_id, payload in events:
        data = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        if data.get("source") in CLIENT_SOURCES and data.get("channel"):
            by_client.setdefault(subject_id, set()).add((data["channel"], data["source"]))
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for client_id, channels in by_client.items():
        client = bind.execute(
            sa.text(
                "SELECT business_id, email, phone, whatsapp, opted_out_channels "
                "FROM clients WHERE id = :id"
            ),
            # SQLite keeps a UUID as 32 hex digits; events keep it with dashes.
            {
                "id": uuid.UUID(client_id)
                if bind.dialect.name == "postgresql"
                else uuid.UUID(client_id).hex
            },
        ).first()
        if client is None:
            continue
        business_id, email, phone, whatsapp, opted = client
        opted = json.loads(opted) if isinstance(opted, str) else list(opted or [])
        addresses = {"email": (email or "").lower(), "sms": phone, "whatsapp": whatsapp or phone}
        for channel, source in channels:
            address = addresses.get(channel)
            if channel in opted and address:
                rows[(str(business_id), channel, address)] = {
                    "id": uuid.uuid4(),
                    "business_id": uuid.UUID(str(business_id)),
                    "channel": channel,
                    "address": address,
                    "source": source,
                    "created_at": datetime.now(UTC),
                }
    if rows:
        op.bulk_insert(suppressions, list(rows.values()))


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_verification_sends_business_id_sent_at", table_name="verification_sends")
    op.drop_index("ix_verification_sends_destination_sent_at", table_name="verification_sends")
    op.drop_table("verification_sends")
