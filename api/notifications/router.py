"""Delivery history across a business's reminders."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentActor, PageDep, SessionDep, TimeWindowDep
from api.errors import ACTOR_ERRORS, error_responses
from api.notifications import service
from api.notifications.schemas import DeliveryRead, NotificationFilters
from api.schemas import ListResponse
from core.enums import Channel, DeliveryStatus

router = APIRouter(
    prefix="/notifications", tags=["notifications"], responses=error_responses(*ACTOR_ERRORS)
)


@router.get("", response_model=ListResponse[DeliveryRead])
async def list_notifications(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    window: TimeWindowDep,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    client_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
    reminder_id: Annotated[
        uuid.UUID | None, Query(description="Another business's id matches nothing.")
    ] = None,
) -> ListResponse[DeliveryRead]:
    """The business's deliveries on every reminder, newest first."""
    filters = NotificationFilters(
        status=status,
        channel=channel,
        client_id=client_id,
        reminder_id=reminder_id,
        window=window,
    )
    deliveries, total = await service.list_notifications(
        session, actor.business_id, filters, limit=page.limit, offset=page.offset
    )
    return ListResponse(items=[DeliveryRead.model_validate(d) for d in deliveries], total=total)
