"""Chasing clients until done, in the dashboard: a reminder page's Clients section (each
target client's state for a period), marking a client done from it, and the overview's
outstanding counts.

All of it goes through the API's own `reminder_clients` service, so a client marked done
here is recorded, audited and signalled to the workflow exactly as
`POST /api/v1/reminders/{id}/clients/{client_id}/done` would.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client as TemporalClient

from api.reminder_clients import service as progress
from core.models import Business, Client, Reminder, User
from core.progress_models import ClientProgress
from core.repositories.progress import DONE, OUTSTANDING, ProgressRepository
from core.repositories.reminders import ReminderRepository
from core.repositories.users import UserRepository
from core.types import utcnow
from workflows import schedule as schedules

# The filters a reminder's Clients section offers ("" is every client).
FILTERS = ("", OUTSTANDING, DONE)
NOTE_LIMIT = 2000


@dataclass
class ClientsSection:
    """What the Clients section of a reminder page shows."""

    period: str | None
    periods: list[str]
    state: str  # the filter: "", "outstanding" or "done"
    items: list[progress.ClientState]
    counts: dict[str, int]  # every target client, by state, whatever the filter
    names: dict[uuid.UUID, str] = field(default_factory=dict)  # who marked done


async def clients_section(
    session: AsyncSession, reminder: Reminder, business: Business, period: str, state: str
) -> ClientsSection:
    """Each target client's state for `period` ("": the current one), those in `state`
    listed ("": all), with the counts of every state and who marked clients done. A period
    the reminder never had answers 422 (the API's Unprocessable)."""
    wanted = state if state in FILTERS else ""
    found = await progress.client_states(session, reminder, business, period or None, None)
    counts = {"all": len(found.items), OUTSTANDING: 0, DONE: 0, "opted_out": 0}
    for item in found.items:
        counts[item.state] = counts.get(item.state, 0) + 1
    items = [item for item in found.items if not wanted or item.state == wanted]
    by = {i.progress.done_by_user_id for i in items if i.progress and i.progress.done_by_user_id}
    return ClientsSection(
        period=found.period,
        periods=found.periods,
        state=wanted,
        items=items,
        counts=counts,
        names=await UserRepository(session).names(by),
    )


async def mark_done(
    session: AsyncSession,
    temporal: Callable[[], Awaitable[TemporalClient]],
    reminder: Reminder,
    user: User,
    client_id: uuid.UUID,
    period: str | None,
    note: str | None,
) -> None:
    """Mark one of the reminder's target clients done for `period` (None: the current
    one) as `user`, through the API's service, which signals the workflow and commits.
    Raises the API's errors: NotFound (not a target), Unprocessable (no such period),
    Conflict (no period yet), ServiceUnavailable (Temporal did not take the signal)."""
    client = await progress.target_client(session, reminder, client_id)
    chosen = await progress.check_period(session, reminder, period)
    done = progress.Done(source="staff", by_user_id=user.id, by=user.email, note=note)
    await progress.record_done(session, temporal, reminder, client, chosen, done)


# -- the overview -------------------------------------------------------------------------


@dataclass
class Outstanding:
    """An active reminder's current period with clients still to do it."""

    reminder: Reminder
    period: str
    outstanding: int
    escalated: int


async def outstanding_reminders(session: AsyncSession, business: Business) -> list[Outstanding]:
    """Per active reminder of the business, its current period's outstanding and escalated
    clients (only reminders with some outstanding), most escalated first. A fixed number
    of statements however many reminders there are: the reminders, their latest periods
    (two), their clients (two) and those periods' rows (one)."""
    reminders = await ReminderRepository(session).active_for_business(business.id)
    rows = ProgressRepository(session)
    periods = await rows.current_periods([r.id for r in reminders])
    now = utcnow()
    for reminder in reminders:
        if reminder.id not in periods:  # nothing sent yet: the next period is the current
            upcoming = schedules.next_occurrence(reminder.schedule, reminder.timezone, now)
            if upcoming is not None:
                periods[reminder.id] = upcoming.period
    chosen = [r for r in reminders if r.id in periods]
    marks = await rows.for_periods(periods)
    targets = await ReminderRepository(session).targets_of(business.id, chosen)
    found = []
    for reminder in chosen:
        counted = _count(reminder, business, targets[reminder.id], marks.get(reminder.id, {}))
        if counted[0]:
            found.append(Outstanding(reminder, periods[reminder.id], *counted))
    found.sort(key=lambda o: (-o.escalated, -o.outstanding, o.reminder.title))
    return found


def _count(
    reminder: Reminder,
    business: Business,
    clients: list[Client],
    marks: dict[uuid.UUID, ClientProgress],
) -> tuple[int, int]:
    """(outstanding, of which escalated) among the reminder's target clients."""
    outstanding = escalated = 0
    for client in clients:
        row = marks.get(client.id)
        if progress.client_state(client, reminder, business, row) == OUTSTANDING:
            outstanding += 1
            escalated += row is not None and row.escalated_at is not None
    return outstanding, escalated
