"""A message that fails after it was accepted: Twilio's status callback says `undelivered`
or `failed` for a send the provider had taken. When the reminder falls back on failure,
the client gets the message on their next channel, once: the reminder's workflow sends it
as a resend of the original on that channel (`ResendArgs.fallback_from`), keyed by the
original and the channel, so a second callback (or a replay) sends nothing more.

The channel is chosen and written on the failed delivery with the failure
(`mark_fallback`), then asked of the workflow after the commit (`fall_back`); when
Temporal cannot take it then, the worker sends it later (core/fallbacks.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.reminder_clients.service import TemporalGetter
from channels import fallback_channels
from core import fallbacks
from core.enums import DeliveryStatus
from core.enums import ReminderStatus as Status
from core.models import Delivery
from core.repositories.clients import ClientRepository
from core.repositories.reminders import DeliveryRepository, ReminderRepository
from core.repositories.users import BusinessRepository
from core.settings import Settings
from core.temporal import placement

FAILED = (DeliveryStatus.failed.value, DeliveryStatus.undelivered.value)


async def next_channel(session: AsyncSession, delivery: Delivery) -> str | None:
    """The channel to fall back to, or None (no fallback asked for, the reminder
    cancelled, no channel left)."""
    reminder = await ReminderRepository(session).get(delivery.reminder_id)
    if reminder is None or not reminder.fallback or reminder.status == Status.cancelled:
        return None
    if delivery.client_id is None or delivery.status not in FAILED:
        return None
    client = await ClientRepository(session).get(delivery.business_id, delivery.client_id)
    business = await BusinessRepository(session).get(delivery.business_id)
    if client is None or business is None:
        return None
    original = await fallbacks.original_of(session, delivery)
    tried = await DeliveryRepository(session).channels_tried(original) | {delivery.channel}
    channels = fallback_channels(client, business, tried)
    return channels[0] if channels else None


async def mark_fallback(session: AsyncSession, delivery: Delivery) -> None:
    """Choose the channel for the delivery that just failed and write it on the delivery,
    in the caller's transaction; once chosen it is never chosen again."""
    if delivery.fallback_channel is not None:
        return
    channel = await next_channel(session, delivery)
    if channel is not None:
        fallbacks.mark(delivery, channel)


async def fall_back(
    session: AsyncSession,
    temporal: TemporalGetter,
    settings: Settings,
    delivery_id: uuid.UUID,
) -> fallbacks.Outcome:
    """Ask the reminder's workflow for the fallback marked on the failed delivery (see
    core.fallbacks.send_fallback); when Temporal does not take it now, the worker sends it
    once Temporal is back. Never raises for Temporal: the failure has been recorded."""
    return await fallbacks.send_fallback(session, temporal, placement(settings), delivery_id)
