"""Chasing each client until done: a client's state for one period of a reminder, and the
documents a client uploaded with "done". On core.models' Base; alembic/env.py imports
this module so migrations know them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, IdMixin, TimestampMixin


class ClientProgress(IdMixin, TimestampMixin, Base):
    """One client's state for one period of a reminder, once it is more than "outstanding":
    done (by whom, when, how, with what note) and escalated (when, after how many sends).
    A target with no row is outstanding. The workflow is the authority on whom it sends
    to; this is the record people read."""

    __tablename__ = "client_progress"
    __table_args__ = (
        UniqueConstraint("reminder_id", "period", "client_id"),
        Index("ix_client_progress_business_id_state", "business_id", "state"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    # The period's due time as an occurrence key ("2027-01-07T09:00:00Z").
    period: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(20), default="outstanding")
    done_at: Mapped[datetime | None]
    # staff, client (their link), sms, whatsapp
    done_source: Mapped[str | None] = mapped_column(String(20))
    done_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]
    escalated_after: Mapped[int | None] = mapped_column(Integer)


class ClientDocument(IdMixin, TimestampMixin, Base):
    """A file a client uploaded through their done link, kept in the storage backend under
    `storage_key` (never served publicly: staff download it through the API)."""

    __tablename__ = "client_documents"
    __table_args__ = (
        Index("ix_client_documents_reminder_id_client_id", "reminder_id", "client_id"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
