"""SQLAlchemy 2.0 models. Relationships are `lazy="raise"`: loads are explicit in repositories."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None]
    # A deleted account keeps its row, so the audit log still names who did what; its
    # address moves to `deleted_email` and `email` becomes a placeholder, which frees the
    # address for a new account (api/admin/service.py).
    deleted_at: Mapped[datetime | None]
    deleted_email: Mapped[str | None] = mapped_column(String(320))

    # The database cascades the delete (ON DELETE CASCADE); the ORM must not null the FK.
    membership: Mapped[Membership | None] = relationship(
        back_populates="user", lazy="raise", uselist=False, passive_deletes=True
    )


class Business(IdMixin, TimestampMixin, Base):
    __tablename__ = "businesses"

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_channels: Mapped[list[str]] = mapped_column(default=lambda: ["email"])
    send_window_start: Mapped[time | None] = mapped_column(Time)
    send_window_end: Mapped[time | None] = mapped_column(Time)
    # ISO 3166 code: whose public holidays a schedule's business days skip by default.
    country: Mapped[str | None] = mapped_column(String(2))


class Membership(IdMixin, Base):
    __tablename__ = "memberships"

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    # One business per user: a user is staff of exactly one firm (superusers may have none).
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="membership", lazy="raise")
    business: Mapped[Business] = relationship(lazy="raise")


class Client(IdMixin, TimestampMixin, Base):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("business_id", "external_ref"),
        Index("ix_clients_business_id_name", "business_id", "name"),
        Index("ix_clients_business_id_email", "business_id", "email"),
        # The client list's order (case-insensitive name, then name and id), read in order.
        Index(
            "ix_clients_business_id_lower_name", "business_id", text("lower(name)"), "name", "id"
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    whatsapp: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    preferred_channels: Mapped[list[str]] = mapped_column(default=list)
    opted_out_channels: Mapped[list[str]] = mapped_column(default=list)
    external_ref: Mapped[str | None] = mapped_column(String(100))
    # The client's last WhatsApp message to us: for 24 hours after it a free-form WhatsApp
    # message may be sent; outside that session only an approved template may.
    whatsapp_session_at: Mapped[datetime | None]
    secondary_phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    # Server defaults only (read back at insert): rows inserted by code that predates
    # these columns stay valid. An inactive client is no reminder's target.
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Values of the business's own fields (core.client_field_models), by field name.
    fields: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'"))

    tag_rows: Mapped[list[ClientTag]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="ClientTag.tag"
    )

    def address_on(self, channel: str) -> str | None:
        """Where a message on `channel` reaches this client (WhatsApp: its own number,
        else the phone's), as stored; None when the client has none."""
        return {"email": self.email, "sms": self.phone, "whatsapp": self.whatsapp or self.phone}[
            channel
        ]

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class ClientTag(Base):
    """Tags live in their own table so "every client with tag X" is one indexed query."""

    __tablename__ = "client_tags"
    __table_args__ = (Index("ix_client_tags_business_id_tag", "business_id", "tag"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))


class SenderIdentity(IdMixin, TimestampMixin, Base):
    __tablename__ = "sender_identities"
    __table_args__ = (
        # At most one default per (business, channel), enforced by the database too.
        Index(
            "uq_sender_identities_default_per_channel",
            "business_id",
            "channel",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    from_email: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    from_number: Mapped[str | None] = mapped_column(String(20))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None]
    # The pending one-time code (never the code itself: an HMAC of it, see
    # api/sender_identities/verification.py), when it expires and how often it was tried.
    verification_code_hash: Mapped[str | None] = mapped_column(String(128))
    verification_expires_at: Mapped[datetime | None]
    verification_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Codes sent in the current hour-long window, which started then (the send rate).
    verification_sent_count: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    verification_window_started_at: Mapped[datetime | None]
    # Email only: the business's SMTP server that sends as this identity. (The name the
    # naming convention would give is longer than PostgreSQL's 63 characters.)
    email_configuration_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(
            "email_configurations.id",
            ondelete="SET NULL",
            name="fk_sender_identities_email_configuration_id",
        ),
        index=True,
    )


class Template(IdMixin, TimestampMixin, Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("business_id", "name"),)

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)


class RefreshToken(IdMixin, Base):
    """Opaque refresh tokens, stored as SHA-256; rotation links a family for reuse detection."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AppEvent(IdMixin, Base):
    """Append-only audit log, written in the same transaction as the change it records."""

    __tablename__ = "app_events"
    __table_args__ = (Index("ix_app_events_business_id_created_at", "business_id", "created_at"),)

    business_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("businesses.id", ondelete="SET NULL")
    )
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(IdMixin, TimestampMixin, Base):
    """What a reminder is. What is happening to it lives in its workflow, `reminder-<id>`."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("business_id", "idempotency_key"),
        Index("ix_reminders_business_id_status", "business_id", "status"),
        Index("ix_reminders_business_id_created_at", "business_id", "created_at"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    client_ids: Mapped[list[str]] = mapped_column(default=list)
    tag: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[list[str]] = mapped_column(default=list)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("templates.id", ondelete="SET NULL")
    )
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    # When a channel fails permanently for a client, try the client's next channel.
    fallback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # WhatsApp outside the 24-hour session: an approved template and its variables
    # (values are rendered like the body).
    whatsapp_content_sid: Mapped[str | None] = mapped_column(String(34))
    whatsapp_content_variables: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'")
    )
    timezone: Mapped[str] = mapped_column(String(64))
    schedule: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    next_fire_at: Mapped[datetime | None]
    occurrences_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_fired_at: Mapped[datetime | None]
    # The workflow's last occurrence key, written with the three above (sync_reminder).
    last_occurrence: Mapped[str | None] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(100), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # The business's SMTP server this reminder's email goes through (else the sender
    # identity's, else the business's default, else the platform's).
    email_configuration_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("email_configurations.id", ondelete="SET NULL"), index=True
    )
    # After this many messages of a period without "done", email escalate_to (a staff
    # member; else whoever created the reminder).
    escalate_after: Mapped[int | None] = mapped_column(Integer)
    # Not a foreign key: a removed staff member's escalations go to the reminder's creator.
    escalate_to_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The sender identity to send as, by channel ({"email": "<id>", ...}); a channel not
    # named, or whose identity was deleted since, sends as that channel's default. Not a
    # foreign key (JSON): api/reminders/senders.py checks the ids, and a deleted identity
    # is taken out of the reminders naming it.
    sender_identity_ids: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Delivery(IdMixin, TimestampMixin, Base):
    """One message of one occurrence to one client on one channel; unique, so a retried
    activity finds its row instead of sending twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("reminder_id", "occurrence_key", "client_id", "channel"),
        # Covering on PostgreSQL: the dashboard's per-day counts read the index alone.
        Index(
            "ix_deliveries_business_id_created_at",
            "business_id",
            "created_at",
            postgresql_include=["status", "channel"],
        ),
        Index("ix_deliveries_business_id_status", "business_id", "status"),
        Index("ix_deliveries_reminder_id_created_at", "reminder_id", "created_at"),
        Index("ix_deliveries_provider_message_id", "provider_message_id"),
        Index("ix_deliveries_reminder_id_period", "reminder_id", "period"),
        Index("ix_deliveries_fallback_requested_at", "fallback_requested_at"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    occurrence_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    to_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    # Set just before the provider is called and cleared once its answer is recorded: a
    # retry that finds it set cannot know whether the message left, so it never resends.
    send_started_at: Mapped[datetime | None]
    # The rate-limit slot reserved for this send when it lay too far ahead to wait for in
    # the worker: the retry that comes back for it sends then, without queueing again.
    send_slot_at: Mapped[datetime | None]
    # Outside the business's send window: held until then (SMS and WhatsApp).
    deferred_until: Mapped[datetime | None]
    # This delivery replaces one on that channel which failed permanently.
    fallback_from: Mapped[str | None] = mapped_column(String(20))
    # This delivery failed late and its message goes out on that channel instead (kept,
    # so a later report never picks another); requested_at is set until the reminder's
    # workflow took the resend, and the worker's sweep sends it when Temporal was down.
    fallback_channel: Mapped[str | None] = mapped_column(String(20))
    fallback_requested_at: Mapped[datetime | None]
    # A resend (`POST /notifications/{id}/resend`): the delivery this one sends again.
    resend_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    # SMS segments the provider billed for, when it said (Twilio's `num_segments`).
    segments: Mapped[int | None] = mapped_column(Integer)
    # The period (its due time's key) the occurrence belongs to; None before periods.
    period: Mapped[str | None] = mapped_column(String(32))


class DeliveryCount(Base):
    """A ledger of deliveries per (business, channel, status): database triggers append +n
    and -n as deliveries are inserted, change status or are deleted (migration 7ed8f9a0b1c2),
    so a count is the sum of a few rows; the worker folds them (repositories.delivery_counts).
    No foreign key: a deleted business's rows sum to zero and are folded away."""

    __tablename__ = "delivery_counts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    business_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(BigInteger)


class EmailConfiguration(IdMixin, TimestampMixin, Base):
    """A business's own SMTP server. The password is stored only as Fernet ciphertext
    (core/crypto.py) and decrypted inside the send activity, never in workflow inputs."""

    __tablename__ = "email_configurations"
    __table_args__ = (
        UniqueConstraint("business_id", "name"),
        # At most one default per business, enforced by the database too.
        Index(
            "uq_email_configurations_default",
            "business_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(10))  # starttls | tls | none
    username: Mapped[str | None] = mapped_column(String(320))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    from_email: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class TwilioCredentials(IdMixin, TimestampMixin, Base):
    """A business's own Twilio account, used for its SMS and WhatsApp instead of the
    platform's. The auth token is stored only as Fernet ciphertext (core/crypto.py) and
    decrypted inside the send activity or the webhook check, never in workflow inputs."""

    __tablename__ = "twilio_credentials"

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), unique=True
    )
    account_sid: Mapped[str] = mapped_column(String(34), index=True)
    auth_token_encrypted: Mapped[str] = mapped_column(Text)
    # The sender when the business has no sender identity for the channel.
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))


class VerificationSend(IdMixin, Base):
    """One verification code sent to a sender identity's address or number: the platform
    sent it on the business's behalf, so it counts in the business's usage, and the sends
    to one destination or of one business are limited (api/sender_identities/verification)."""

    __tablename__ = "verification_sends"
    __table_args__ = (
        Index("ix_verification_sends_destination_sent_at", "destination_digest", "sent_at"),
        Index("ix_verification_sends_business_id_sent_at", "business_id", "sent_at"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    # Not a foreign key: the count must outlive the identity (deleting it resets nothing).
    identity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(20))
    # An HMAC of the address or number (keyed with SECRET_KEY): who was sent codes is
    # countable without a second copy of the address.
    destination_digest: Mapped[str] = mapped_column(String(64))
    segments: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(IdMixin, Base):
    """An address or number whose owner opted out of a business's messages on a channel
    themselves (STOP, the unsubscribe link, the carrier's "unsubscribed"): nothing goes to
    it on that channel, whichever client record holds it, until its owner opts back in."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("business_id", "channel", "address"),)

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))  # lower-case email, or E.164
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
