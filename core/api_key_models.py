"""API keys: a business's programs call the API with one instead of a person's login. On
core.models' Base; alembic/env.py imports this module so migrations know the table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import Base, Business, IdMixin, User
from core.types import utcnow


class ApiKey(IdMixin, Base):
    """One key of a business. Only its SHA-256 is kept (the key is shown once, when made);
    `prefix` (`rk_live_` and 8 characters) is what lists show so people can tell keys
    apart. A key acts in the name of the owner who made it: when that account goes (its
    row is deleted, `created_by_user_id` is then null) or is deactivated, the key stops
    working."""

    __tablename__ = "api_keys"

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Written at most once a minute per key (see api.api_key_auth): a trace, not a counter.
    last_used_at: Mapped[datetime | None]

    business: Mapped[Business] = relationship(lazy="raise")
    created_by: Mapped[User | None] = relationship(lazy="raise")
