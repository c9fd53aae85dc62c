"""Starting a reminder's workflow from its row: the one place that builds the input and
search attributes, for the API (a new reminder) and for reconcile (a missing workflow)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio.client import Client

from core.settings import Settings
from workflows import search_attributes as sa
from workflows.contracts import WORKFLOW_TYPE, ReminderInput


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
    data = ReminderInput(
        reminder_id=str(row.id),
        business_id=str(row.business_id),
        schedule=row.schedule,
        timezone=row.timezone,
        grace_seconds=settings.LATE_GRACE_PERIOD_SECONDS,
        request_id=request_id,
        state=row.status,
        cursor=cursor.isoformat(),
        # Carried so the workflow's first sync does not reset the row's counters.
        occurrences_sent=row.occurrences_sent or 0,
        last_fired_at=row.last_fired_at.isoformat() if row.last_fired_at else None,
    )
    await client.start_workflow(
        WORKFLOW_TYPE,
        data,
        id=row.workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        search_attributes=sa.at_start(
            row.business_id, row.type, row.status, row.client_ids, row.next_fire_at
        ),
        memo={"request_id": request_id} if request_id else None,
        rpc_timeout=timedelta(seconds=rpc_timeout) if rpc_timeout else None,
    )
