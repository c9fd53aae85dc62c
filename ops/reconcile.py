"""Repair drift between reminder rows and their workflows (`reminders reconcile`).

The database says what should be happening; Temporal says what is. For every active row
(scheduled or paused) the workflow `reminder-<id>` is described: a missing one is started
again, a closed one marks the row with how it ended, a running one is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.enums import ReminderStatus
from core.events import record_event
from core.models import Reminder
from core.repositories.reminders import ReminderRepository
from core.settings import Settings
from core.temporal import placement
from core.types import utcnow
from workflows import reminder_client as temporal_calls
from workflows import search_attributes as sa

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Describes in flight at once: quick on a large table, gentle on the Temporal frontend.
CONCURRENCY = 20
# Temporal refuses a search attribute value larger than this (JSON-encoded, default limit).
# A row younger than this may be one the API is starting right now; the next run sees it.
SETTLE = timedelta(seconds=60)

CLOSED_TO_STATUS = {
    WorkflowExecutionStatus.COMPLETED: ReminderStatus.completed.value,
    WorkflowExecutionStatus.CANCELED: ReminderStatus.cancelled.value,
    WorkflowExecutionStatus.TERMINATED: ReminderStatus.failed.value,
    WorkflowExecutionStatus.FAILED: ReminderStatus.failed.value,
    WorkflowExecutionStatus.TIMED_OUT: ReminderStatus.failed.value,
}


class TemporalUnavailable(Exception):
    """Temporal stopped answering during the run; nothing more can be checked."""


@dataclass
class Marked:
    reminder_id: str
    from_status: str
    to_status: str

    def as_dict(self) -> dict[str, str]:
        return {"reminder_id": self.reminder_id, "from": self.from_status, "to": self.to_status}


@dataclass
class RowError:
    reminder_id: str
    error: str


@dataclass
class ReconcileReport:
    checked: int = 0
    ok: int = 0
    started: list[str] = field(default_factory=list)
    marked: list[Marked] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "started": list(self.started),
            "marked": [m.as_dict() for m in self.marked],
            "errors": [asdict(e) for e in self.errors],
        }

    def counts(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "started": len(self.started),
            "marked": len(self.marked),
            "errors": len(self.errors),
        }


@dataclass
class _Outcome:
    kind: str  # "ok" | "started" | "closed" | "error"
    to_status: str | None = None
    error: str | None = None


def cursor_for(last_fired_at: datetime | None, now: datetime, grace_seconds: int) -> datetime:
    """Where a restarted workflow resumes: occurrences inside the grace window still fire,
    older ones are not sent in a burst, and nothing already fired fires again."""
    floor = now - timedelta(seconds=grace_seconds)
    return max(last_fired_at, floor) if last_fired_at else floor


def _closed_status(description: WorkflowExecutionDescription) -> str:
    assert description.status is not None
    status = CLOSED_TO_STATUS[description.status]
    if description.status == WorkflowExecutionStatus.COMPLETED:
        # A reminder cancelled by signal also returns normally; its last published
        # state says which of the two ended it.
        state = description.typed_search_attributes.get(sa.REMINDER_STATE)
        if state in (ReminderStatus.completed.value, ReminderStatus.cancelled.value):
            return state
    return status


async def _inspect(client: Client, settings: Settings, row: Reminder, now: datetime) -> _Outcome:
    try:
        description = await temporal_calls.describe(client, row.workflow_id)
        if description is None:
            try:
                await temporal_calls.start(
                    client,
                    placement(settings),
                    row,
                    cursor=cursor_for(row.last_fired_at, now, settings.LATE_GRACE_PERIOD_SECONDS),
                )
            except WorkflowAlreadyStartedError:
                return _Outcome("ok")  # started by someone else since the describe
            return _Outcome("started")
        if description.status in CLOSED_TO_STATUS:
            return _Outcome("closed", to_status=_closed_status(description))
        return _Outcome("ok")
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNAVAILABLE:
            raise TemporalUnavailable(f"Temporal is unreachable: {exc.message}") from exc
        return _Outcome("error", error=f"{exc.status.name}: {exc.message}")
    except Exception as exc:  # one bad row never stops the run; it is reported instead
        log.exception("reconcile failed for reminder %s", row.id)
        return _Outcome("error", error=f"{exc.__class__.__name__}: {exc}")


async def _inspect_batch(
    client: Client, settings: Settings, rows: list[Reminder], now: datetime
) -> list[_Outcome]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Reminder) -> _Outcome:
        async with limit:
            return await _inspect(client, settings, row, now)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(row)) for row in rows]
    except* TemporalUnavailable as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _apply(
    session: AsyncSession,
    report: ReconcileReport,
    rows: list[Reminder],
    outcomes: list[_Outcome],
    now: datetime,
) -> None:
    for row, outcome in zip(rows, outcomes, strict=True):
        report.checked += 1
        rid = str(row.id)
        if outcome.kind == "started":
            report.started.append(rid)
        elif outcome.kind == "error":
            report.errors.append(RowError(reminder_id=rid, error=outcome.error or "unknown"))
        elif outcome.kind == "closed" and outcome.to_status:
            if await ReminderRepository(session).end_if_active(row.id, outcome.to_status, now):
                report.marked.append(Marked(rid, row.status, outcome.to_status))
            else:
                report.ok += 1
        else:
            report.ok += 1


async def reconcile(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: Client,
    settings: Settings,
    *,
    now: datetime | None = None,
    actor_user_id: uuid.UUID | None = None,
    source: str = "cli",
    batch_size: int = BATCH_SIZE,
) -> ReconcileReport:
    """Check every active reminder against its workflow and repair what drifted.

    Raises `TemporalUnavailable` if Temporal stops answering; batches done by then stay done.
    """
    now = now or utcnow()
    report = ReconcileReport()
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session:
            rows = await ReminderRepository(session).active_batch(after, now - SETTLE, batch_size)
        if not rows:
            break
        outcomes = await _inspect_batch(client, settings, rows, now)
        async with sessionmaker() as session:
            await _apply(session, report, rows, outcomes, now)
            await session.commit()
        after = rows[-1].id
    async with sessionmaker() as session:
        record_event(
            session,
            "reconcile.run",
            actor_user_id=actor_user_id,
            payload={"source": source, **report.counts()},
        )
        await session.commit()
    log.info("reconcile: %s", report.counts())
    return report
