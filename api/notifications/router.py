"""Delivery history across a business's reminders."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from api.deps import (
    CurrentActor,
    KeysetDep,
    PageDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    TimeWindowDep,
    id_or_404,
    next_cursor,
)
from api.errors import ACTOR_ERRORS, error_responses
from api.notifications import service
from api.notifications.schemas import DeliveryRead, NotificationFilters, ResendAccepted
from api.schemas import CursorList
from core.enums import Channel, DeliveryStatus
from core.models import Delivery

router = APIRouter(
    prefix="/notifications", tags=["notifications"], responses=error_responses(*ACTOR_ERRORS)
)


async def get_delivery(delivery_id: str, actor: CurrentActor, session: SessionDep) -> Delivery:
    return await service.get_delivery(session, actor, id_or_404(delivery_id, "Delivery"))


DeliveryDep = Annotated[Delivery, Depends(get_delivery)]


@router.get("", response_model=CursorList[DeliveryRead])
async def list_notifications(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    after: KeysetDep,
    window: TimeWindowDep,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    client_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
    reminder_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
) -> CursorList[DeliveryRead]:
    """The business's deliveries on every reminder, newest first."""
    filters = NotificationFilters(
        status=status,
        channel=channel,
        client_id=client_id,
        reminder_id=reminder_id,
        window=window,
    )
    deliveries, total = await service.list_notifications(
        session, actor.business_id, filters, limit=page.limit, offset=page.offset, after=after
    )
    return CursorList(
        items=[DeliveryRead.model_validate(d) for d in deliveries],
        total=total,
        next_cursor=next_cursor(deliveries, page.limit),
    )


@router.get("/{delivery_id}", response_model=DeliveryRead)
async def read_notification(delivery: DeliveryDep) -> DeliveryRead:
    """One delivery of the business's: to whom, what, on which channel, how it went."""
    return DeliveryRead.model_validate(delivery)


@router.post(
    "/{delivery_id}/resend",
    response_model=ResendAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(409),
)
async def resend_notification(
    delivery: DeliveryDep,
    actor: CurrentActor,
    session: SessionDep,
    temporal: TemporalClientDep,
    settings: SettingsDep,
) -> ResendAccepted:
    """Send a failed or undelivered delivery again, now, as a new delivery linked to it."""
    key = await service.resend(session, actor, delivery, temporal, settings)
    return ResendAccepted(accepted=True, occurrence_key=key, resend_of=delivery.id)
