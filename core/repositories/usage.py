"""Messages the platform sent for businesses in a time range, for billing (read-only).

A delivery counts when it was handed to a provider: its status is sent, delivered,
undelivered or failed *and* the provider gave it a message id. Its moment is when it was
sent (`sent_at`), else when it was made. Verification codes count at their `sent_at`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import DeliveryStatus
from core.models import Delivery, VerificationSend

HANDED_TO_PROVIDER = (
    DeliveryStatus.sent.value,
    DeliveryStatus.delivered.value,
    DeliveryStatus.undelivered.value,
    DeliveryStatus.failed.value,
)
# A delivery is sent at most this long after its row is made (held for the send window, a
# rate-limit slot, retries): lets the query use the (business_id, created_at) index.
SEND_LAG = timedelta(days=7)

# (business id, channel, messages, segments)
Sent = tuple[uuid.UUID, str, int, int]


async def deliveries_sent(
    session: AsyncSession, business_ids: list[uuid.UUID], starts: datetime, ends: datetime
) -> list[Sent]:
    """Per business and channel: deliveries handed to a provider in [starts, ends)."""
    sent_at = func.coalesce(Delivery.sent_at, Delivery.created_at)
    stmt = (
        select(
            Delivery.business_id,
            Delivery.channel,
            func.count(),
            func.coalesce(func.sum(Delivery.segments), 0),
        )
        .where(
            Delivery.business_id.in_(business_ids),
            Delivery.created_at >= starts - SEND_LAG,
            Delivery.created_at < ends,
            sent_at >= starts,
            sent_at < ends,
            Delivery.status.in_(HANDED_TO_PROVIDER),
            Delivery.provider_message_id.is_not(None),
        )
        .group_by(Delivery.business_id, Delivery.channel)
    )
    return [(b, c, int(n), int(s or 0)) for b, c, n, s in (await session.execute(stmt)).all()]


async def verification_codes_sent(
    session: AsyncSession, business_ids: list[uuid.UUID], starts: datetime, ends: datetime
) -> list[Sent]:
    """Per business and channel: sender verification codes sent in [starts, ends)."""
    stmt = (
        select(
            VerificationSend.business_id,
            VerificationSend.channel,
            func.count(),
            func.coalesce(func.sum(VerificationSend.segments), 0),
        )
        .where(
            VerificationSend.business_id.in_(business_ids),
            VerificationSend.sent_at >= starts,
            VerificationSend.sent_at < ends,
        )
        .group_by(VerificationSend.business_id, VerificationSend.channel)
    )
    return [(b, c, int(n), int(s or 0)) for b, c, n, s in (await session.execute(stmt)).all()]
