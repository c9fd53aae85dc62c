"""A message that fails after it was accepted: Twilio's status callback says `undelivered`
or `failed` for a send the provider had taken. When the reminder falls back on failure,
the client gets the message on their next channel, once: the reminder's workflow sends it
as a resend of the original on that channel (`ResendArgs.fallback_from`), keyed by the
original and the channel, so a second callback (or a replay) sends nothing more."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import AppError
from api.notifications.service import ask_for_resend
from api.reminder_clients.service import TemporalGetter
from channels import fallback_channels
from core.enums import DeliveryStatus
from core.enums import ReminderStatus as Status
from core.events import record_event
from core.models import Delivery, Reminder
from core.repositories.clients import ClientRepository
from core.repositories.reminders import DeliveryRepository, ReminderRepository
from core.repositories.users import BusinessRepository
from core.settings import Settings
from workflows.contracts import ResendArgs

log = logging.getLogger(__name__)

FAILED = (DeliveryStatus.failed.value, DeliveryStatus.undelivered.value)


async def _original(session: AsyncSession, delivery: Delivery) -> Delivery:
    """The delivery the chain of resends and fallbacks started from."""
    if delivery.resend_of is None:
        return delivery
    found = await DeliveryRepository(session).get_for_business(
        delivery.business_id, delivery.resend_of
    )
    return found or delivery


async def next_channel(session: AsyncSession, delivery: Delivery) -> tuple[Delivery, str] | None:
    """The original delivery and the channel to fall back to, or None (no fallback asked
    for, the reminder cancelled, no channel left)."""
    reminder = await ReminderRepository(session).get(delivery.reminder_id)
    if reminder is None or not reminder.fallback or reminder.status == Status.cancelled:
        return None
    if delivery.client_id is None or delivery.status not in FAILED:
        return None
    client = await ClientRepository(session).get(delivery.business_id, delivery.client_id)
    business = await BusinessRepository(session).get(delivery.business_id)
    if client is None or business is None:
        return None
    original = await _original(session, delivery)
    tried = await DeliveryRepository(session).channels_tried(original) | {delivery.channel}
    channels = fallback_channels(client, business, tried)
    return (original, channels[0]) if channels else None


async def fall_back(
    session: AsyncSession,
    temporal: TemporalGetter,
    settings: Settings,
    delivery_id: uuid.UUID,
) -> str | None:
    """Send the failed delivery's message on the client's next channel; the channel, or
    None when there is none to try. Temporal failing is logged and audited, never raised:
    the callback has been recorded either way."""
    delivery = await DeliveryRepository(session).get(delivery_id)
    found = await next_channel(session, delivery) if delivery is not None else None
    if delivery is None or found is None:
        return None
    original, channel = found
    reminder = await ReminderRepository(session).get(delivery.reminder_id)
    assert reminder is not None
    args = ResendArgs(
        delivery_id=str(original.id),
        client_id=str(delivery.client_id),
        channel=channel,
        request_id=f"fallback-{original.id}-{channel}",
        by="late failure",
        fallback_from=delivery.channel,
    )
    payload = {"delivery_id": str(delivery.id), "channel": channel, "from": delivery.channel}
    try:
        await ask_for_resend(await temporal(), settings, reminder, args)
    except AppError as exc:
        log.warning("fallback for delivery %s not sent: %s", delivery.id, exc.detail)
        payload["error"] = str(exc.detail)
        _record(session, reminder, "delivery.fallback_not_sent", payload)
        await session.commit()
        return None
    _record(session, reminder, "delivery.fallback_requested", payload)
    await session.commit()
    return channel


def _record(
    session: AsyncSession, reminder: Reminder, action: str, payload: dict[str, str]
) -> None:
    record_event(
        session,
        action,
        business_id=reminder.business_id,
        subject_type="reminder",
        subject_id=reminder.id,
        payload=payload,
    )
