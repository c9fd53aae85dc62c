"""Delivery history across all of a business's reminders.

Filters never answer 404: an id of another business (or of nothing) simply matches no
delivery, since every query is scoped to the caller's business first.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.deps import Actor
from api.errors import Conflict, NotFound
from api.notifications.schemas import NotificationFilters
from api.reminders.signals import SIGNAL_TIMEOUT, reach_temporal
from core.context import request_id_var
from core.enums import DeliveryStatus
from core.enums import ReminderStatus as Status
from core.models import Delivery, Reminder
from core.repositories.base import Keyset, Total
from core.repositories.reminders import DeliveryRepository, ReminderRepository
from core.settings import Settings
from core.temporal import placement
from core.types import utcnow
from workflows import reminder_client as temporal_calls
from workflows.contracts import ResendArgs, resend_key

RESENDABLE = {DeliveryStatus.failed.value, DeliveryStatus.undelivered.value}


async def list_notifications(
    session: AsyncSession,
    business_id: uuid.UUID,
    filters: NotificationFilters,
    *,
    limit: int,
    offset: int,
    after: Keyset | None = None,
) -> tuple[list[Delivery], Total]:
    """One page of the business's deliveries, newest first, and how many match."""
    return await DeliveryRepository(session).list_for_business(
        business_id,
        status=filters.status.value if filters.status is not None else None,
        channel=filters.channel.value if filters.channel is not None else None,
        client_id=filters.client_id,
        reminder_id=filters.reminder_id,
        since=filters.window.since,
        until=filters.window.until,
        limit=limit,
        offset=offset,
        after=after,
    )


async def get_delivery(session: AsyncSession, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    delivery = await DeliveryRepository(session).get_for_business(actor.business_id, delivery_id)
    if delivery is None:
        raise NotFound("Delivery not found")
    return delivery


def _check_resendable(delivery: Delivery) -> None:
    if delivery.status not in RESENDABLE:
        raise Conflict(
            f"delivery is {delivery.status}; only failed or undelivered deliveries can be resent"
        )
    if delivery.client_id is None:
        raise Conflict("the delivery's client was deleted; there is no one to resend it to")


async def ask_for_resend(
    temporal: Client, settings: Settings, reminder: Reminder, args: ResendArgs
) -> None:
    """The reminder's workflow's `resend` signal, or signal-with-start once it completed
    (a short run of its own when the workflow has ended: workflows/reminder_client.py);
    409 when it is not running otherwise, 503 when Temporal fails."""
    call = temporal_calls.resend(
        temporal,
        placement(settings),
        reminder,
        args,
        now=utcnow(),
        request_id=request_id_var.get(),
        timeout=SIGNAL_TIMEOUT,
    )
    await reach_temporal(call, reminder, "resend")


async def resend(
    session: AsyncSession, actor: Actor, delivery: Delivery, temporal: Client, settings: Settings
) -> str:
    """Ask the reminder's workflow to send this delivery again, now, as a new delivery
    linked to it; answers the new delivery's occurrence key.

    A completed reminder's workflow may have ended (a `once` reminder that fired, say):
    the resend then runs as a short run of its own that leaves the reminder completed.
    A cancelled reminder sends nothing more.
    """
    _check_resendable(delivery)
    reminder = await ReminderRepository(session).get_for_business(
        actor.business_id, delivery.reminder_id
    )
    assert reminder is not None  # a delivery goes when its reminder does (cascade)
    if reminder.status == Status.cancelled.value:
        raise Conflict("reminder is cancelled; its deliveries cannot be resent")
    request_id = str(uuid.uuid4())
    args = ResendArgs(
        delivery_id=str(delivery.id),
        client_id=str(delivery.client_id),
        channel=delivery.channel,
        request_id=request_id,
        by=actor.by,
    )
    await ask_for_resend(temporal, settings, reminder, args)
    key = resend_key(request_id)
    actor.record(
        session,
        "notification.resend_requested",
        "delivery",
        delivery.id,
        reminder_id=str(reminder.id),
        channel=delivery.channel,
        occurrence_key=key,
    )
    await session.commit()
    return key
