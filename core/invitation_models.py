"""Staff invitations: an owner invites an email address to the business; the link sent
there makes (or joins) the account. On core.models' Base; alembic/env.py imports this
module so migrations know the table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, IdMixin
from core.types import utcnow


class Invitation(IdMixin, Base):
    """One invitation. Only the SHA-256 of its link's token is kept (the token is in the
    email alone); it works once, until `expires_at`, unless revoked first."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_business_id_email", "business_id", "email"),)

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # lower case
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]
