"""What clients write back: an inbound SMS or WhatsApp message that is no keyword (STOP,
START, HELP, DONE). On core.models' Base; alembic/env.py imports this module so
migrations know the table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import Base, Client, IdMixin
from core.types import utcnow

# Twilio's longest message is 1600 characters; anything past that is cut when stored.
MAX_BODY = 1600
MAX_SID = 64  # Twilio's MessageSid is 34 characters


class Reply(IdMixin, Base):
    """One message a client sent, in one business (a number shared by clients of two
    businesses on the platform's number gives each business its own row). Linked to the
    latest message that reached the client on that channel, and so to its reminder, when
    there is one. Deleting the client deletes their replies: the text is theirs."""

    __tablename__ = "replies"
    __table_args__ = (
        # A webhook Twilio retries is stored once.
        UniqueConstraint("business_id", "message_sid"),
        # The inbox, newest first, and its unread count.
        Index("ix_replies_business_id_received_at", "business_id", "received_at"),
        Index("ix_replies_business_id_read_at", "business_id", "read_at"),
        Index("ix_replies_reminder_id", "reminder_id"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    from_number: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    message_sid: Mapped[str | None] = mapped_column(String(MAX_SID))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    reminder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("reminders.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship(lazy="raise")

    @property
    def client_name(self) -> str:
        """Only where the query loaded the client with the reply."""
        return self.client.name
