"""Outgoing webhooks: a business's endpoints, and one row per (event, endpoint) that a
small Temporal workflow delivers (core/webhook_events.py writes them, activities/webhooks.py
sends them). On core.models' Base; alembic/env.py imports this module so migrations know
the tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, IdMixin, TimestampMixin
from core.types import utcnow

MAX_URL = 2000
MAX_ERROR = 500

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """Where a business wants to hear of events, signed with its own secret (Standard
    Webhooks' `whsec_...`, stored encrypted under ENCRYPTION_KEYS: core/crypto.py).
    `consecutive_failures` counts deliveries that failed for good since the last one that
    succeeded; at WEBHOOK_DISABLE_AFTER_FAILURES the endpoint is disabled."""

    __tablename__ = "webhook_endpoints"

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(MAX_URL))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]]
    is_enabled: Mapped[bool] = mapped_column(default=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(String(MAX_ERROR))


class WebhookDelivery(IdMixin, Base):
    """One event for one endpoint. Its id is the `webhook-id` header (stable across
    retries, so a receiver can drop duplicates) and the workflow id's suffix."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The endpoint's log, newest first.
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
        # The sweep: pending rows whose workflow may not have started.
        Index("ix_webhook_deliveries_status_created_at", "status", "created_at"),
    )

    business_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR))
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
