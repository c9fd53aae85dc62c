"""A reminder's target clients, per period: who is outstanding, done or opted out, and
marking a client done (`/reminders/{id}/clients`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from api.deps import CurrentActor, SessionDep, StorageDep, get_temporal_client, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.reminder_clients import documents, service
from api.reminder_clients.schemas import (
    ClientStateRead,
    ClientStates,
    DocumentRead,
    DoneRequest,
    State,
)
from api.reminders import view
from core.models import Client, Reminder

EMPTY_DONE = DoneRequest()  # no body: the current period, no note


# Dependencies, so a caller who may not see the reminder or client gets 404 before any
# complaint about the body.
async def reminder_of(reminder_id: str, actor: CurrentActor, session: SessionDep) -> Reminder:
    return await view.get_reminder(session, actor, id_or_404(reminder_id, "Reminder"))


ReminderDep = Annotated[Reminder, Depends(reminder_of)]


async def target_of(client_id: str, reminder: ReminderDep, session: SessionDep) -> Client:
    return await service.target_client(session, reminder, id_or_404(client_id, "Client"))


router = APIRouter(
    prefix="/reminders/{reminder_id}/clients",
    tags=["reminders"],
    responses=error_responses(*ACTOR_ERRORS),
)


def state_read(item: service.ClientState) -> ClientStateRead:
    row = item.progress
    return ClientStateRead(
        client_id=item.client.id,
        name=item.client.name,
        period=item.period,
        state=item.state,  # type: ignore[arg-type]
        sends=item.sends,
        done_at=row.done_at if row else None,
        done_source=row.done_source if row else None,  # type: ignore[arg-type]
        done_by_user_id=row.done_by_user_id if row else None,
        note=row.note if row else None,
        escalated_at=row.escalated_at if row else None,
        documents=[DocumentRead.model_validate(document) for document in item.documents],
    )


@router.get("", response_model=ClientStates, responses=error_responses(422))
async def list_client_states(
    reminder: ReminderDep,
    actor: CurrentActor,
    session: SessionDep,
    period: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[State | None, Query()] = None,
) -> ClientStates:
    """Each target client's state for a period (default the current one: the one last
    sent, else the next), optionally only those in one state."""
    found = await service.client_states(session, reminder, actor.business, period, state)
    counts: dict[State, int] = {"outstanding": 0, "done": 0, "opted_out": 0}
    items = [state_read(item) for item in found.items]
    for item in items:
        counts[item.state] += 1
    return ClientStates(period=found.period, periods=found.periods, items=items, counts=counts)


@router.post(
    "/{client_id}/done", response_model=ClientStateRead, responses=error_responses(409, 422, 503)
)
async def mark_client_done(
    reminder: ReminderDep,
    client: Annotated[Client, Depends(target_of)],
    actor: CurrentActor,
    session: SessionDep,
    request: Request,
    data: Annotated[DoneRequest, Body()] = EMPTY_DONE,
) -> ClientStateRead:
    """The client has done what the reminder asks for this period (default the current
    one): no more of the period's messages go to them. Marking again changes nothing."""
    period = await service.check_period(session, reminder, data.period)
    done = service.Done(source="staff", by_user_id=actor.user.id, by=actor.by, note=data.note)

    async def temporal():  # type: ignore[no-untyped-def]
        return await get_temporal_client(request)

    row = await service.record_done(session, temporal, reminder, client, period, done)
    item = service.ClientState(client, period, row.state, 0, row, [])
    return state_read(item)


@router.get(
    "/{client_id}/documents/{document_id}",
    response_class=Response,
    responses={200: {"description": "The file, as an attachment", "content": {"*/*": {}}}},
)
async def download_document(
    reminder_id: str,
    client_id: str,
    document_id: str,
    actor: CurrentActor,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """A document the client sent with "done", as an attachment."""
    reminder = await view.get_reminder(session, actor, id_or_404(reminder_id, "Reminder"))
    return await documents.download(
        session,
        storage,
        reminder,
        id_or_404(client_id, "Document"),
        id_or_404(document_id, "Document"),
    )
