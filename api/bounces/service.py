"""What an email bounce changes: the delivery whose message bounced for good is recorded
`undelivered` with the report's status and diagnostic, and, when its reminder falls back,
the message goes out once on the client's next channel (api/webhooks/late_failure.py, as
for a text Twilio reports undelivered). A delayed report, a report about a message that is
not ours, or a second copy of one already applied changes nothing."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.reminder_clients.service import TemporalGetter
from api.webhooks import late_failure
from channels.email_bounces import Bounce, RecipientStatus
from core.enums import DeliveryStatus
from core.events import record_event
from core.models import Delivery
from core.repositories.bounces import BounceRepository
from core.settings import Settings
from core.types import utcnow
from workflows.contracts import OUTCOME_UNKNOWN

MAX_ERROR_CODE_LENGTH = 64  # deliveries.error_code


def _bounceable(delivery: Delivery) -> bool:
    """A message that left (or may have): sent, being recorded, or of unknown outcome. A
    delivery already failed, undelivered or skipped stays as it is."""
    if delivery.status == DeliveryStatus.failed and delivery.error_code == OUTCOME_UNKNOWN:
        return True
    return delivery.status in (DeliveryStatus.pending, DeliveryStatus.sent)


def _mark_bounced(delivery: Delivery, failure: RecipientStatus) -> None:
    delivery.status = DeliveryStatus.undelivered.value
    delivery.error_code = (failure.status or "bounced")[:MAX_ERROR_CODE_LENGTH]
    delivery.error_message = "The recipient's mail server returned the message" + (
        f": {failure.diagnostic}" if failure.diagnostic else ""
    )
    delivery.sent_at = delivery.sent_at or utcnow()


async def record_bounce(session: AsyncSession, bounce: Bounce) -> uuid.UUID | None:
    """Record a hard bounce on the delivery it is about, committed; that delivery's id, or
    None when nothing changed."""
    failure = bounce.hard_failure
    if failure is None or bounce.message_id is None:
        return None
    delivery = await BounceRepository(session).lock_email_delivery(bounce.message_id)
    if delivery is None or not _bounceable(delivery):
        await session.rollback()  # let the lock go
        return None
    _mark_bounced(delivery, failure)
    await late_failure.mark_fallback(session, delivery)
    record_event(
        session,
        "delivery.bounced",
        business_id=delivery.business_id,
        subject_type="delivery",
        subject_id=delivery.id,
        payload={"status": delivery.error_code, "reminder_id": str(delivery.reminder_id)},
    )
    await session.commit()
    return delivery.id


async def apply_bounce(
    session: AsyncSession, temporal: TemporalGetter, settings: Settings, bounce: Bounce
) -> None:
    """Record the bounce and fall back to the client's next channel when the reminder
    asks for it."""
    bounced = await record_bounce(session, bounce)
    if bounced is not None:
        await late_failure.fall_back(session, temporal, settings, bounced)
