"""The audit log: a business's own events for owners, every event for superusers.

Read-only on purpose: the log is append-only, so there is no route that updates or
deletes an event. Events are written with the change they record (see
`api.events.service` for the list of actions).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import OwnerActor, PageDep, SessionDep, SuperUser, TimeWindowDep
from api.errors import ACTOR_ERRORS, error_responses
from api.events import service
from api.events.schemas import EventRead
from api.events.service import EventFilters
from api.schemas import ListResponse

router = APIRouter(tags=["events"], responses=error_responses(*ACTOR_ERRORS, 403))

NAME = r"^[a-z0-9_.]+$"
NO_NUL = r"^[^\x00]*$"


def get_filters(
    window: TimeWindowDep,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=NAME,
            description="Exact action, or a prefix ending with `.` (`client.`).",
        ),
    ] = None,
    subject_type: Annotated[str | None, Query(max_length=64, pattern=NAME)] = None,
    subject_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    actor_user_id: uuid.UUID | None = None,
) -> EventFilters:
    return EventFilters(
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        actor_user_id=actor_user_id,
        since=window.since,
        until=window.until,
    )


FiltersDep = Annotated[EventFilters, Depends(get_filters)]


@router.get("/events", response_model=ListResponse[EventRead])
async def list_business_events(
    actor: OwnerActor, session: SessionDep, page: PageDep, filters: FiltersDep
) -> ListResponse[EventRead]:
    """The business's audit log, newest first (owners only)."""
    filters.business_id = actor.business_id
    items, total = await service.list_events(session, filters, page.limit, page.offset)
    return ListResponse(items=items, total=total)


@router.get("/admin/events", response_model=ListResponse[EventRead])
async def list_all_events(
    user: SuperUser,
    session: SessionDep,
    page: PageDep,
    filters: FiltersDep,
    business_id: uuid.UUID | None = None,
) -> ListResponse[EventRead]:
    """Every business's audit log, newest first (superusers only)."""
    filters.business_id = business_id
    items, total = await service.list_events(session, filters, page.limit, page.offset)
    return ListResponse(items=items, total=total)
