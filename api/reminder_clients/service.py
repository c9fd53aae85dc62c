"""Each target client's state per period of a reminder, and marking a client done: by
staff here, by the client through their link (api/done) or by texting DONE
(api/webhooks). One way for all three: the row records it, the workflow is told (its
`client_done` signal), and sends to that client for the period stop."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client as TemporalClient

from api.errors import Conflict, NotFound, Unprocessable
from api.reminders.signals import signal_workflow
from core import webhook_events
from core.events import record_event
from core.models import Business, Client, Reminder
from core.progress_models import ClientDocument, ClientProgress
from core.repositories.progress import DONE, OPTED_OUT, OUTSTANDING, ProgressRepository, mark_done
from core.repositories.reminders import ENDED, ReminderRepository
from core.types import utcnow
from workflows import schedule as schedules
from workflows.contracts import ClientDoneArgs
from workflows.reminder import ReminderWorkflow

TemporalGetter = Callable[[], Awaitable[TemporalClient]]
PERIOD = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# How many periods back the state can be read.
KEPT_PERIODS = 24


@dataclass
class Done:
    """Who marked a client done, and how: staff (by_user_id), the client's link (with a
    note and files), or a text message."""

    source: str
    by_user_id: uuid.UUID | None = None
    by: str | None = None
    note: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class ClientState:
    client: Client
    period: str
    state: str
    sends: int
    progress: ClientProgress | None
    documents: list[ClientDocument]


@dataclass
class Periods:
    period: str | None
    periods: list[str]
    items: list[ClientState]


async def current_period(session: AsyncSession, reminder: Reminder) -> str | None:
    """The period last sent (the one a client's "done" is for), else the next one's."""
    latest = await ProgressRepository(session).latest_period(reminder.id)
    if latest is not None:
        return latest
    upcoming = schedules.next_occurrence(reminder.schedule, reminder.timezone, utcnow())
    return upcoming.period if upcoming is not None else None


async def check_period(session: AsyncSession, reminder: Reminder, period: str | None) -> str:
    """`period` when it is one of the reminder's (sent, marked, or the next), else 422;
    None: the current one."""
    if period is None:
        current = await current_period(session, reminder)
        if current is None:
            raise Conflict("the reminder has no period to mark")
        return current
    if not PERIOD.fullmatch(period):
        raise Unprocessable("period: expected a period key such as '2027-01-07T09:00:00Z'")
    # The current period is among these: the latest sent or marked, else the next.
    known = set(await ProgressRepository(session).periods(reminder.id, KEPT_PERIODS))
    upcoming = schedules.next_occurrence(reminder.schedule, reminder.timezone, utcnow())
    if upcoming is not None:
        known.add(upcoming.period)
    if period not in known:
        raise Unprocessable(f"period: {period!r} is not a current or past period of this reminder")
    return period


async def target_client(session: AsyncSession, reminder: Reminder, client_id: uuid.UUID) -> Client:
    """One of the reminder's target clients, else 404 (another business's too). A client
    made inactive is still found: what it sent before stays reachable."""
    targets = await ReminderRepository(session).target_clients(reminder, include_inactive=True)
    for client in targets:
        if client.id == client_id:
            return client
    raise NotFound("Client not found")


async def record_done(
    session: AsyncSession,
    temporal: TemporalGetter,
    reminder: Reminder,
    client: Client,
    period: str,
    done: Done,
) -> ClientProgress:
    """Mark `client` done for `period`: the row, an event and the workflow's signal, all or
    nothing (503 when Temporal does not take the signal). Doing it again changes nothing."""
    progress = ProgressRepository(session)
    row = await progress.get_or_add(reminder.business_id, reminder.id, period, client.id)
    if not mark_done(row, done.source, utcnow(), done.by_user_id, done.note):
        return row
    record_event(
        session,
        "client.done",
        business_id=reminder.business_id,
        actor_user_id=done.by_user_id,
        subject_type="reminder",
        subject_id=reminder.id,
        payload={"client_id": str(client.id), "period": period, "source": done.source},
    )
    await webhook_events.emit(
        session,
        reminder.business_id,
        webhook_events.CLIENT_DONE,
        {
            "reminder_id": reminder.id,
            "client_id": client.id,
            "period": period,
            "source": done.source,
        },
    )
    if reminder.status not in ENDED:
        args = ClientDoneArgs(
            client_id=str(client.id),
            period=period,
            source=done.source,
            by=done.by,
            note=done.note,
            files=done.files,
        )
        try:
            await signal_workflow(await temporal(), reminder, ReminderWorkflow.client_done, args)
        except Conflict:
            pass  # the workflow has ended meanwhile: the record is all there is to change
    await session.commit()
    return row


def _state(
    client: Client, reminder: Reminder, business: Business, row: ClientProgress | None
) -> str:
    if row is not None and row.state == DONE:
        return DONE
    channels = reminder.channels or client.preferred_channels or business.default_channels
    if channels and set(channels) <= set(client.opted_out_channels or []):
        return OPTED_OUT
    return OUTSTANDING


def client_state(
    client: Client, reminder: Reminder, business: Business, row: ClientProgress | None
) -> str:
    """A target client's state for a period, from its row (None: none yet): what the list
    below says, for callers that count many reminders' clients at once (the dashboard)."""
    return _state(client, reminder, business, row)


async def client_states(
    session: AsyncSession,
    reminder: Reminder,
    business: Business,
    period: str | None,
    state: str | None,
) -> Periods:
    """Each target client's state for `period` (default the current one), filtered by
    `state`, with the periods there are to look at."""
    progress = ProgressRepository(session)
    periods = await progress.periods(reminder.id, KEPT_PERIODS)
    chosen = await check_period(session, reminder, period) if period else None
    if chosen is None:
        chosen = await current_period(session, reminder)
    if chosen is None:
        return Periods(period=None, periods=periods, items=[])
    if chosen not in periods:
        periods = sorted({*periods, chosen}, reverse=True)
    rows = await progress.for_period(reminder.id, chosen)
    sends = await progress.sends(reminder.id, chosen)
    documents: dict[uuid.UUID, list[ClientDocument]] = {}
    for document in await progress.documents(reminder.id, chosen):
        documents.setdefault(document.client_id, []).append(document)
    items = []
    for client in await ReminderRepository(session).target_clients(reminder):
        row = rows.get(client.id)
        found = _state(client, reminder, business, row)
        if state is None or found == state:
            items.append(
                ClientState(
                    client,
                    chosen,
                    found,
                    sends.get(client.id, 0),
                    row,
                    documents.get(client.id, []),
                )
            )
    return Periods(period=chosen, periods=periods, items=items)
