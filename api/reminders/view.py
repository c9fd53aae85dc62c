"""The reminders' reads: the business's reminder by id (404 otherwise), the list and a
reminder's deliveries, and what `GET /reminders/{id}` answers: the reminder's row, which its workflow keeps in step
(sync_reminder writes status, next fire time, counts and last occurrence at every change),
and the workflow's own `status` query only where the row may be behind or the caller asks.

The row is behind only while an occurrence is due: from its fire time until the workflow
has sent it and written the row again (milliseconds, or longer on a busy worker, or while a
send waits for the business's send window). Anywhere else the row is the workflow's state
and reading it never waits on Temporal or a worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import Actor, Page, as_uuid
from api.errors import NotFound, ServiceUnavailable
from api.reminders.schemas import ReminderDetail, ReminderRead
from api.replies import service as replies
from core.enums import ReminderStatus as Status
from core.models import Delivery, Reminder
from core.repositories.base import Keyset, Total
from core.repositories.reminders import ENDED, DeliveryRepository, ReminderRepository
from core.temporal import TemporalConnector
from core.types import utcnow
from workflows import history
from workflows import reminder_client as temporal_calls
from workflows.contracts import ReminderStatus
from workflows.reminder_client import query_status

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 2.0


async def get_reminder(session: AsyncSession, actor: Actor, reminder_id: uuid.UUID) -> Reminder:
    reminder = await ReminderRepository(session).get_for_business(actor.business_id, reminder_id)
    if reminder is None:
        raise NotFound("Reminder not found")
    return reminder


async def list_reminders(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None,
    type: str | None,
    client_id: uuid.UUID | None,
    tag: str | None,
    limit: int,
    offset: int,
    after: Keyset | None,
) -> tuple[list[Reminder], Total]:
    """The business's reminders, newest first (stored state; no Temporal call)."""
    return await ReminderRepository(session).list_page(
        actor.business_id,
        status=status,
        type=type,
        client_id=client_id,
        tag=tag,
        limit=limit,
        offset=offset,
        after=after,
    )


async def list_deliveries(
    session: AsyncSession, reminder: Reminder, page: Page
) -> tuple[list[Delivery], int]:
    return await DeliveryRepository(session).list_for_reminder(
        reminder.id, limit=page.limit, offset=page.offset
    )


def row_in_step(reminder: Reminder, now: datetime) -> bool:
    """True when the row holds the running workflow's state: it is not waiting on an
    occurrence that is due (a paused reminder skips its occurrences without sending)."""
    if reminder.status != Status.scheduled.value or reminder.next_fire_at is None:
        return True
    return reminder.next_fire_at > now


async def reminder_view(
    connector: TemporalConnector,
    reminder: Reminder,
    ask_workflow: bool = False,
    release: Callable[[], Awaitable[None]] | None = None,
) -> ReminderDetail:
    """The row, `live` when it is known to be the workflow's state; else (or when
    `ask_workflow`) the row merged with the workflow's `status` query, and the row alone,
    `live: false`, when that fails. `release` runs once the row is read, before Temporal is
    asked: the request's database connection goes back to the pool rather than wait up to
    QUERY_TIMEOUT for a busy worker."""
    stored = ReminderRead.model_validate(reminder).model_dump()
    last_occurrence = reminder.last_occurrence
    in_step = row_in_step(reminder, utcnow())
    if release is not None:
        await release()
    if reminder.status in ENDED:
        return ReminderDetail(**stored, live=False, last_occurrence=last_occurrence)
    if in_step and not ask_workflow:
        return ReminderDetail(**stored, live=True, last_occurrence=last_occurrence)
    status = await _query_status(connector, reminder.workflow_id)
    if status is None:
        return ReminderDetail(**stored, live=False, last_occurrence=last_occurrence)
    live = {
        "status": status.state,
        "next_fire_at": status.next_fire_at,
        "occurrences_sent": status.occurrences_sent,
        "last_fired_at": status.last_fired_at,
    }
    return ReminderDetail(**{**stored, **live}, live=True, last_occurrence=status.last_occurrence)


async def _query_status(connector: TemporalConnector, workflow_id: str) -> ReminderStatus | None:
    """The workflow's answer to `status`, or None when Temporal or the worker does not
    answer within QUERY_TIMEOUT (a read answers from the row rather than fail)."""
    try:
        temporal = await connector.get(timeout=QUERY_TIMEOUT)
        status = await query_status(temporal, workflow_id, timeout=QUERY_TIMEOUT)
    except Exception as exc:
        log.info("status query for %s failed: %r", workflow_id, exc)
        return None
    return status


# -- timeline ----------------------------------------------------------------------------

HISTORY_TIMEOUT = 20.0


async def load_timeline(
    temporal: Client, session: AsyncSession, business_id: uuid.UUID, reminder: Reminder
) -> tuple[int, list[history.Entry]]:
    """How many workflow runs were read, and the timeline across them with client names."""
    try:
        runs = await asyncio.wait_for(
            temporal_calls.fetch_runs(temporal, reminder.workflow_id), HISTORY_TIMEOUT
        )
    except Exception as exc:  # whatever failed, it failed in Temporal
        detail = exc.status.name if isinstance(exc, RPCError) else exc.__class__.__name__
        raise ServiceUnavailable(f"Temporal did not return the history ({detail})") from None
    timeline = history.build_timeline(runs, temporal.data_converter.payload_converter)
    ids = [parsed for value in history.client_ids(timeline) if (parsed := as_uuid(value))]
    names = await ReminderRepository(session).client_names(business_id, ids)
    history.name_clients(timeline, {str(key): name for key, name in names.items()})
    # Replies are no workflow event: the database has them, put in at their times.
    timeline = await replies.with_replies(session, business_id, reminder.id, timeline)
    return len(runs), timeline
