"""Sending a late failure's fallback, even when Temporal is down at that moment.

When a delivery fails after it was accepted (a Twilio status callback, an email bounce) and
its reminder falls back, the channel to fall back to is written on the delivery in the same
transaction as the failure (`fallback_channel`, `fallback_requested_at`). The reminder's
workflow is then asked to send the message there, as a resend of the original keyed by the
original and the channel, so asking twice sends once. Once it took the request the marker
is cleared; while Temporal cannot be reached it stays, and the worker's sweep
(`send_waiting`) asks again with the same arguments, never choosing a channel anew (by then
the fallback delivery may exist, and the next channel would be a third). A cancelled
reminder, a deleted client or a workflow that no longer runs drops the request for good.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.context import request_id_var
from core.enums import ReminderStatus
from core.events import record_event
from core.models import Delivery, Reminder
from core.repositories.fallbacks import FallbackRepository
from core.repositories.reminders import DeliveryRepository, ReminderRepository
from core.types import utcnow
from workflows import reminder_client as temporal_calls
from workflows.contracts import ResendArgs
from workflows.reminder_client import Placement

log = logging.getLogger(__name__)

SIGNAL_TIMEOUT = 5.0
# A request this old may still be in the API's hands; the sweep leaves younger ones alone.
WAITING_AFTER = timedelta(minutes=1)
# Not taken in this long (Temporal down for a week): the fallback would come too late.
GIVE_UP_AFTER = timedelta(days=7)
SWEEP_BATCH = 100
_UNAVAILABLE = "Temporal is unavailable"

ClientGetter = Callable[[], Awaitable[Client]]
Outcome = Literal["requested", "dropped", "waiting"] | None


async def original_of(session: AsyncSession, delivery: Delivery) -> Delivery:
    """The delivery the chain of resends and fallbacks started from."""
    if delivery.resend_of is None:
        return delivery
    found = await DeliveryRepository(session).get_for_business(
        delivery.business_id, delivery.resend_of
    )
    return found or delivery


def mark(delivery: Delivery, channel: str) -> None:
    """Ask for the delivery's message on `channel` (flushed with the caller's transaction)."""
    delivery.fallback_channel = channel
    delivery.fallback_requested_at = utcnow()


def _args(original: Delivery, delivery: Delivery, channel: str) -> ResendArgs:
    return ResendArgs(
        delivery_id=str(original.id),
        client_id=str(delivery.client_id),
        channel=channel,
        request_id=f"fallback-{original.id}-{channel}",
        by="late failure",
        fallback_from=delivery.channel,
    )


def _given_up(reminder: Reminder, delivery: Delivery) -> str | None:
    """Why the fallback will never be sent, if so."""
    if reminder.status == ReminderStatus.cancelled.value:
        return "the reminder was cancelled"
    if delivery.client_id is None:
        return "the client was deleted"
    requested = delivery.fallback_requested_at
    if requested is not None and requested < utcnow() - GIVE_UP_AFTER:
        return "Temporal did not take it in time"
    return None


async def send_fallback(
    session: AsyncSession, temporal: ClientGetter, placement: Placement, delivery_id: uuid.UUID
) -> Outcome:
    """Ask the workflow for the fallback marked on the delivery, committed: `requested`
    once the workflow took it, `dropped` when it never will, `waiting` when Temporal
    failed (the marker stays for the sweep), None when nothing is marked. Never raises
    for Temporal."""
    delivery = await DeliveryRepository(session).get(delivery_id)
    channel = delivery.fallback_channel if delivery is not None else None
    if delivery is None or channel is None or delivery.fallback_requested_at is None:
        return None
    reminder = await ReminderRepository(session).get(delivery.reminder_id)
    assert reminder is not None  # a delivery goes with its reminder
    payload = {"delivery_id": str(delivery.id), "channel": channel, "from": delivery.channel}
    args = _args(await original_of(session, delivery), delivery, channel)
    reason = _given_up(reminder, delivery) or await _ask(temporal, placement, reminder, args)
    if reason == _UNAVAILABLE:
        await session.rollback()
        return "waiting"
    if reason is not None:
        payload["error"] = reason
    action = "delivery.fallback_not_sent" if reason else "delivery.fallback_requested"
    await _settle(session, reminder, delivery, action, payload)
    return "dropped" if reason else "requested"


async def _ask(
    temporal: ClientGetter, placement: Placement, reminder: Reminder, args: ResendArgs
) -> str | None:
    """None when the workflow took the resend, else why not (_UNAVAILABLE: try again)."""
    try:
        call = temporal_calls.resend(
            await temporal(),
            placement,
            reminder,
            args,
            now=utcnow(),
            request_id=request_id_var.get(),
            timeout=SIGNAL_TIMEOUT,
        )
        await asyncio.wait_for(call, SIGNAL_TIMEOUT + 1)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "the reminder is not running"
        log.warning("fallback %s not sent yet: %s", args.request_id, exc)
        return _UNAVAILABLE
    except Exception as exc:  # a timeout, a broken connection, no connection at all
        log.warning("fallback %s not sent yet: %r", args.request_id, exc)
        return _UNAVAILABLE
    return None


async def _settle(
    session: AsyncSession,
    reminder: Reminder,
    delivery: Delivery,
    action: str,
    payload: dict[str, str],
) -> None:
    """The request is over (taken or given up): clear the marker, audit it, commit."""
    delivery.fallback_requested_at = None
    record_event(
        session,
        action,
        business_id=reminder.business_id,
        subject_type="reminder",
        subject_id=reminder.id,
        payload=payload,
    )
    await session.commit()


async def send_waiting(
    sessionmaker: async_sessionmaker[AsyncSession], client: Client, placement: Placement
) -> int:
    """The worker's sweep: ask again for the fallbacks still marked a while after they were
    requested; how many the workflows took."""
    async with sessionmaker() as session:
        ids = await FallbackRepository(session).waiting(utcnow() - WAITING_AFTER, SWEEP_BATCH)

    async def connected() -> Client:
        return client

    sent = 0
    for delivery_id in ids:
        async with sessionmaker() as session:
            outcome = await send_fallback(session, connected, placement, delivery_id)
        if outcome == "waiting":
            break  # Temporal still fails: the rest wait for the next sweep
        sent += outcome == "requested"
    if sent:
        log.info("sent %d fallbacks that Temporal had not taken", sent)
    return sent
