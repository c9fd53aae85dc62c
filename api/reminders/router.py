from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from temporalio.client import Client

from api.deps import (
    CurrentActor,
    KeysetDep,
    PageDep,
    SessionDep,
    SettingsDep,
    TemporalClientDep,
    get_temporal_client,
    id_or_404,
    next_cursor,
)
from api.errors import ACTOR_ERRORS, error_responses
from api.reminders import service, view
from api.reminders.schemas import (
    DeliveryRead,
    HistoryEntry,
    HistoryResponse,
    ReminderCreate,
    ReminderDetail,
    ReminderRead,
    ReminderUpdate,
    TriggerAccepted,
)
from api.schemas import CursorList, ListResponse
from core.enums import ReminderStatus, ReminderType
from core.models import Reminder

router = APIRouter(
    prefix="/reminders", tags=["reminders"], responses=error_responses(*ACTOR_ERRORS)
)

# Printable ASCII only: the key is stored and compared as given.
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,200}$"


async def get_reminder(reminder_id: str, actor: CurrentActor, session: SessionDep) -> Reminder:
    return await view.get_reminder(session, actor, id_or_404(reminder_id, "Reminder"))


ReminderDep = Annotated[Reminder, Depends(get_reminder)]


def _temporal_getter(request: Request) -> service.TemporalGetter:
    """Temporal on demand (503 when unreachable), for routes that need it only sometimes."""

    async def temporal() -> Client:
        return await get_temporal_client(request)

    return temporal


@router.post(
    "",
    response_model=ReminderRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_reminder(
    data: ReminderCreate,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=IDEMPOTENCY_KEY,
            description="Retrying with the same key and body returns the first reminder.",
        ),
    ] = None,
) -> ReminderRead:
    """Create a reminder and start its workflow."""
    reminder = await service.create(
        session, actor, data, _temporal_getter(request), settings, idempotency_key
    )
    return ReminderRead.model_validate(reminder)


@router.get("", response_model=CursorList[ReminderRead])
async def list_reminders(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    after: KeysetDep,
    status_filter: Annotated[ReminderStatus | None, Query(alias="status")] = None,
    type_filter: Annotated[ReminderType | None, Query(alias="type")] = None,
    client_id: Annotated[
        uuid.UUID | None, Query(description="Reminders whose client_ids include it.")
    ] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> CursorList[ReminderRead]:
    """The business's reminders, newest first (stored state; no Temporal call)."""
    reminders, total = await view.list_reminders(
        session,
        actor,
        status=status_filter.value if status_filter else None,
        type=type_filter.value if type_filter else None,
        client_id=client_id,
        tag=(tag or "").strip().lower() or None,
        limit=page.limit,
        offset=page.offset,
        after=after,
    )
    return CursorList(
        items=[ReminderRead.model_validate(r) for r in reminders],
        total=total,
        next_cursor=next_cursor(reminders, page.limit),
    )


@router.get("/{reminder_id}", response_model=ReminderDetail)
async def read_reminder(
    reminder: ReminderDep,
    session: SessionDep,
    request: Request,
    live: Annotated[
        bool,
        Query(
            description="Ask the running workflow (its `status` query) even where the "
            "stored row is known to be its state; `live` in the answer says whether it did."
        ),
    ] = False,
) -> ReminderDetail:
    """One reminder. Its status, times and counts are the running workflow's (`live:
    true`): from the row the workflow keeps in step, which answers without Temporal, or,
    while an occurrence is due (the row may be behind) or with `?live=true`, from the
    workflow's `status` query. `live: false`: the reminder has ended, or the query was
    needed and failed, and the stored row answers."""
    return await view.reminder_view(
        request.app.state.temporal, reminder, ask_workflow=live, release=session.close
    )


@router.patch("/{reminder_id}", response_model=ReminderRead, responses=error_responses(409))
async def update_reminder(
    data: ReminderUpdate,
    reminder: ReminderDep,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> ReminderRead:
    """Change a reminder; a new schedule or time zone reschedules its workflow."""
    # Only a schedule change needs Temporal; content changes work while it is down.
    temporal = _temporal_getter(request)
    reminder = await service.update_reminder(session, actor, reminder, data, temporal, settings)
    return ReminderRead.model_validate(reminder)


@router.delete(
    "/{reminder_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(409)
)
async def cancel_reminder(
    reminder: ReminderDep, actor: CurrentActor, session: SessionDep, temporal: TemporalClientDep
) -> Response:
    """Cancel a reminder; it stays listed as `cancelled`."""
    await service.cancel(session, actor, reminder, temporal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{reminder_id}/trigger",
    response_model=TriggerAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(409),
)
async def trigger_reminder(
    reminder: ReminderDep, actor: CurrentActor, session: SessionDep, temporal: TemporalClientDep
) -> TriggerAccepted:
    """Send now, outside the schedule (also while paused)."""
    key = await service.trigger(session, actor, reminder, temporal)
    return TriggerAccepted(accepted=True, occurrence_key=key)


async def _change_state(
    signal: str, reminder: Reminder, actor: CurrentActor, session: SessionDep, temporal: Client
) -> ReminderRead:
    reminder = await service.change_state(session, actor, reminder, signal, temporal)
    return ReminderRead.model_validate(reminder)


@router.post("/{reminder_id}/pause", response_model=ReminderRead, responses=error_responses(409))
async def pause_reminder(
    reminder: ReminderDep, actor: CurrentActor, session: SessionDep, temporal: TemporalClientDep
) -> ReminderRead:
    """Pause: occurrences due while paused are recorded as skipped."""
    return await _change_state("pause", reminder, actor, session, temporal)


@router.post("/{reminder_id}/resume", response_model=ReminderRead, responses=error_responses(409))
async def resume_reminder(
    reminder: ReminderDep, actor: CurrentActor, session: SessionDep, temporal: TemporalClientDep
) -> ReminderRead:
    """Resume a paused reminder from its next occurrence."""
    return await _change_state("resume", reminder, actor, session, temporal)


@router.post("/{reminder_id}/complete", response_model=ReminderRead, responses=error_responses(409))
async def complete_reminder(
    reminder: ReminderDep, actor: CurrentActor, session: SessionDep, temporal: TemporalClientDep
) -> ReminderRead:
    """The client did the thing: no further occurrences."""
    return await _change_state("complete", reminder, actor, session, temporal)


@router.get("/{reminder_id}/deliveries", response_model=ListResponse[DeliveryRead])
async def list_deliveries(
    reminder: ReminderDep, session: SessionDep, page: PageDep
) -> ListResponse[DeliveryRead]:
    """The reminder's delivery records, newest first."""
    deliveries, total = await view.list_deliveries(session, reminder, page)
    return ListResponse(items=[DeliveryRead.model_validate(d) for d in deliveries], total=total)


@router.get("/{reminder_id}/history", response_model=HistoryResponse)
async def reminder_history(
    reminder: ReminderDep,
    actor: CurrentActor,
    session: SessionDep,
    temporal: TemporalClientDep,
    page: PageDep,
) -> HistoryResponse:
    """The timeline, oldest first, read from the workflow's Temporal history."""
    runs, timeline = await view.load_timeline(temporal, session, actor.business_id, reminder)
    window = timeline[page.offset : page.offset + page.limit]
    return HistoryResponse(
        workflow_id=reminder.workflow_id,
        runs=runs,
        items=[HistoryEntry.model_validate(entry) for entry in window],
        total=len(timeline),
    )
