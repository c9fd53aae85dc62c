"""Starting a reminder's workflow from its row: the one place that builds the input and
search attributes, for the API (a new reminder, a resend after it ended) and for
reconcile (a missing workflow)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from core.enums import ReminderStatus
from core.settings import Settings
from workflows import search_attributes as sa
from workflows.contracts import WORKFLOW_TYPE, ReminderInput, ResendArgs
from workflows.reminder import ReminderWorkflow

# Signal-with-start takes the signal by name only: read it off the handler, so a renamed
# handler fails type-checking here instead of failing resends in production.
RESEND_SIGNAL = ReminderWorkflow.resend.__name__
COMPLETED = ReminderStatus.completed.value


class ReminderRow(Protocol):
    id: uuid.UUID
    business_id: uuid.UUID
    type: str
    client_ids: list[str]
    timezone: str
    schedule: dict[str, Any]
    status: str
    next_fire_at: datetime | None
    last_fired_at: datetime | None
    occurrences_sent: int

    @property
    def workflow_id(self) -> str: ...


def reminder_input(
    settings: Settings,
    row: ReminderRow,
    *,
    cursor: datetime,
    request_id: str | None = None,
    state: str | None = None,
) -> ReminderInput:
    """The workflow input for the row: its state (or `state`) and its counts."""
    return ReminderInput(
        reminder_id=str(row.id),
        business_id=str(row.business_id),
        schedule=row.schedule,
        timezone=row.timezone,
        grace_seconds=settings.LATE_GRACE_PERIOD_SECONDS,
        request_id=request_id,
        state=state or row.status,
        cursor=cursor.isoformat(),
        # Carried so the workflow's first sync does not reset the row's counters.
        occurrences_sent=row.occurrences_sent or 0,
        last_fired_at=row.last_fired_at.isoformat() if row.last_fired_at else None,
    )


async def start_reminder_workflow(
    client: Client,
    settings: Settings,
    row: ReminderRow,
    *,
    cursor: datetime,
    request_id: str | None = None,
    rpc_timeout: float | None = None,
) -> None:
    """Start `reminder-<id>`. Occurrences at or before `cursor` never fire."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        reminder_input(settings, row, cursor=cursor, request_id=request_id),
        id=row.workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        search_attributes=sa.at_start(
            row.business_id, row.type, row.status, row.client_ids, row.next_fire_at
        ),
        memo={"request_id": request_id} if request_id else None,
        rpc_timeout=timedelta(seconds=rpc_timeout) if rpc_timeout else None,
    )


async def resend_to_completed(
    client: Client,
    settings: Settings,
    row: ReminderRow,
    args: ResendArgs,
    *,
    now: datetime,
    request_id: str | None = None,
    rpc_timeout: float | None = None,
) -> None:
    """Resend on a completed reminder, whether or not its workflow still runs.

    Signal-with-start: while the workflow runs (it sends resends before it ends) this is
    just the signal; once it has ended, a new run of the same id starts already
    completed, sends the resend and ends. That run takes its counts from the row and
    publishes `completed` again, so the row and the search attributes stay as they were;
    its cursor is now, so even a schedule read by mistake could fire nothing earlier.
    """
    await client.start_workflow(
        ReminderWorkflow.run,
        reminder_input(settings, row, cursor=now, request_id=request_id, state=COMPLETED),
        id=row.workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        # A closed run of the id may be followed by a new one; a running one takes the signal.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=RESEND_SIGNAL,
        start_signal_args=[args],
        search_attributes=sa.at_start(row.business_id, row.type, COMPLETED, row.client_ids, None),
        memo={"request_id": request_id} if request_id else None,
        rpc_timeout=timedelta(seconds=rpc_timeout) if rpc_timeout else None,
    )
