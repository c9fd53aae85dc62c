"""Delivery history across all of a business's reminders.

Filters never answer 404: an id of another business (or of nothing) simply matches no
delivery, since every query is scoped to the caller's business first.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.deps import Actor
from api.errors import Conflict
from api.notifications.schemas import NotificationFilters
from api.reminders.service import signal_workflow
from core.enums import DeliveryStatus
from core.enums import ReminderStatus as Status
from core.models import Delivery
from core.repositories.base import paginate
from core.repositories.reminders import ReminderRepository
from workflows.contracts import ResendArgs

RESENDABLE = {DeliveryStatus.failed.value, DeliveryStatus.undelivered.value}


def _filtered(business_id: uuid.UUID, filters: NotificationFilters) -> Select[Any]:
    stmt = select(Delivery).where(Delivery.business_id == business_id)
    if filters.status is not None:
        stmt = stmt.where(Delivery.status == filters.status.value)
    if filters.channel is not None:
        stmt = stmt.where(Delivery.channel == filters.channel.value)
    if filters.client_id is not None:
        stmt = stmt.where(Delivery.client_id == filters.client_id)
    if filters.reminder_id is not None:
        stmt = stmt.where(Delivery.reminder_id == filters.reminder_id)
    return filters.window.apply(stmt, Delivery.created_at)


async def list_notifications(
    session: AsyncSession,
    business_id: uuid.UUID,
    filters: NotificationFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """One page of the business's deliveries, newest first, and how many match."""
    stmt = _filtered(business_id, filters).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    return await paginate(session, stmt, limit, offset)


async def resend(session: AsyncSession, actor: Actor, delivery: Delivery, temporal: Client) -> str:
    """Ask the reminder's workflow to send this delivery again, now, as a new delivery
    linked to it; answers the new delivery's occurrence key.

    A completed reminder's deliveries may be resent while its workflow still runs (it
    sends what it was asked before it ends); once the workflow has ended, 409 as trigger.
    """
    if delivery.status not in RESENDABLE:
        raise Conflict(
            f"delivery is {delivery.status}; only failed or undelivered deliveries can be resent"
        )
    if delivery.client_id is None:
        raise Conflict("the delivery's client was deleted; there is no one to resend it to")
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
        by=actor.user.email,
    )
    await signal_workflow(temporal, reminder, "resend", args)
    key = f"resend-{request_id}"
    actor.record(
        session,
        "notification.resend_requested",
        "delivery",
        delivery.id,
        reminder_id=str(reminder.id),
        channel=delivery.channel,
        occurrence_key=key,
    )
    return key
