"""The client side of `ReminderWorkflow`: how the API, reconcile and the CLI start, signal,
query, terminate and describe `reminder-<id>`, and read its runs for the timeline
(history.py reads the events). Every call names the workflow by its class and its
signals and query by their methods, so a renamed handler fails type-checking here, not
in production.

Starting takes the row (anything shaped like `ReminderRow`) and where reminders run
(`Placement`: the task queue and the late-grace window, from the settings).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.contracts import ReminderInput, ReminderStatus, ResendArgs
from workflows.reminder import COMPLETED, ReminderWorkflow

log = logging.getLogger(__name__)

ArgT = TypeVar("ArgT")
# A ReminderWorkflow signal method, e.g. ReminderWorkflow.pause.
Signal = Callable[[ReminderWorkflow, ArgT], None]

# Signal-with-start takes the signal by name only: read it off the handler, so a renamed
# handler fails type-checking here instead of failing resends in production.
RESEND_SIGNAL = ReminderWorkflow.resend.__name__


@dataclass(frozen=True)
class Placement:
    """Where reminders run and how late an occurrence may still fire."""

    task_queue: str
    grace_seconds: int


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
    placement: Placement,
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
        grace_seconds=placement.grace_seconds,
        request_id=request_id,
        state=state or row.status,
        cursor=cursor.isoformat(),
        # Carried so the workflow's first sync does not reset the row's counters.
        occurrences_sent=row.occurrences_sent or 0,
        last_fired_at=row.last_fired_at.isoformat() if row.last_fired_at else None,
    )


async def start(
    client: Client,
    placement: Placement,
    row: ReminderRow,
    *,
    cursor: datetime,
    request_id: str | None = None,
    rpc_timeout: float | None = None,
) -> None:
    """Start `reminder-<id>`. Occurrences at or before `cursor` never fire."""
    await client.start_workflow(
        ReminderWorkflow.run,
        reminder_input(placement, row, cursor=cursor, request_id=request_id),
        id=row.workflow_id,
        task_queue=placement.task_queue,
        search_attributes=sa.at_start(
            row.business_id, row.type, row.status, row.client_ids, row.next_fire_at
        ),
        memo={"request_id": request_id} if request_id else None,
        rpc_timeout=timedelta(seconds=rpc_timeout) if rpc_timeout else None,
    )


async def resend_to_completed(
    client: Client,
    placement: Placement,
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
        reminder_input(placement, row, cursor=now, request_id=request_id, state=COMPLETED),
        id=row.workflow_id,
        task_queue=placement.task_queue,
        # A closed run of the id may be followed by a new one; a running one takes the signal.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=RESEND_SIGNAL,
        start_signal_args=[args],
        search_attributes=sa.at_start(row.business_id, row.type, COMPLETED, row.client_ids, None),
        memo={"request_id": request_id} if request_id else None,
        rpc_timeout=timedelta(seconds=rpc_timeout) if rpc_timeout else None,
    )


async def signal(
    client: Client, workflow_id: str, method: Signal[ArgT], arg: ArgT, *, timeout: float
) -> None:
    """Send one of the workflow's signals, named by its method; raises RPCError (NOT_FOUND
    when the workflow is not running)."""
    handle = client.get_workflow_handle_for(ReminderWorkflow.run, workflow_id)
    await handle.signal(method, arg, rpc_timeout=timedelta(seconds=timeout))


async def resend(
    client: Client,
    placement: Placement,
    row: ReminderRow,
    args: ResendArgs,
    *,
    now: datetime,
    request_id: str | None = None,
    timeout: float,
) -> None:
    """Ask the reminder's workflow to send a delivery again: its `resend` signal, or
    signal-with-start once the reminder completed (its workflow may have ended). Raises
    RPCError (NOT_FOUND when a reminder not completed has no running workflow)."""
    if row.status == COMPLETED:
        await resend_to_completed(
            client, placement, row, args, now=now, request_id=request_id, rpc_timeout=timeout
        )
    else:
        await signal(client, row.workflow_id, ReminderWorkflow.resend, args, timeout=timeout)


async def query_status(client: Client, workflow_id: str, *, timeout: float) -> ReminderStatus:
    """The workflow's answer to its `status` query (a worker must be polling)."""
    handle = client.get_workflow_handle_for(ReminderWorkflow.run, workflow_id)
    return await asyncio.wait_for(
        handle.query(ReminderWorkflow.status, rpc_timeout=timedelta(seconds=timeout)),
        timeout + 0.5,
    )


async def terminate(client: Client, workflow_id: str, reason: str, *, timeout: float) -> None:
    handle = client.get_workflow_handle(workflow_id)
    await asyncio.wait_for(
        handle.terminate(reason=reason, rpc_timeout=timedelta(seconds=timeout)), timeout + 1
    )


async def describe(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The current run's description; None when Temporal has no workflow of the id."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            # Caught between runs: the new run is the one that counts.
            description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description


# -- runs: the histories a reminder's timeline is read from -------------------------------
#
# Every run of `reminder-<id>`, oldest first, at most MAX_RUNS (the newest). A long
# recurrence continues as new, and each run's start names the run it continues, so the
# latest run leads back along that chain. A resend to a reminder whose workflow had ended
# starts a new, separate run of the same id (resend_to_completed) that names no earlier
# run: the runs before it are found through visibility, as every execution of the id.

MAX_RUNS = 20
FETCH_TIMEOUT = 5.0
# Visibility lists the newest executions first; more than this many are never read.
MAX_LISTED = 100


async def _run_events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return [
        event
        async for event in handle.fetch_history_events(rpc_timeout=timedelta(seconds=FETCH_TIMEOUT))
    ]


async def _events_or_none(
    client: Client, workflow_id: str, run_id: str | None
) -> list[HistoryEvent] | None:
    """The run's events; None when Temporal no longer has them (past retention)."""
    try:
        return await _run_events(client.get_workflow_handle(workflow_id, run_id=run_id)) or None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _started(events: list[HistoryEvent]) -> WorkflowExecutionStartedEventAttributes:
    return events[0].workflow_execution_started_event_attributes


def _start_time(events: list[HistoryEvent]) -> datetime:
    return events[0].event_time.ToDatetime(tzinfo=UTC)


async def _latest_chain(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """The latest run and the runs it continues, newest first."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = None
    while len(runs) < MAX_RUNS:
        events = await _events_or_none(client, workflow_id, run_id)
        if events is None:
            break  # an older run already removed by retention ends the chain too
        runs.append(events)
        run_id = _started(events).continued_execution_run_id or None
        if run_id is None:
            break
    return runs


async def _earlier_run_ids(
    client: Client, workflow_id: str, before: datetime, known: set[str], room: int
) -> list[str]:
    """The newest `room` runs of the id started before `before`, newest first; none
    when visibility cannot list them (the timeline then starts at `before`)."""
    # The id is `reminder-<uuid>`, made by the API: nothing in it needs escaping.
    query = f"WorkflowId = '{workflow_id}'"
    try:
        listed = [
            (execution.start_time, execution.run_id)
            async for execution in client.list_workflows(
                query, limit=MAX_LISTED, rpc_timeout=timedelta(seconds=FETCH_TIMEOUT)
            )
        ]
    except RPCError as exc:
        log.warning("could not list the runs of %s: %s", workflow_id, exc)
        return []
    earlier = sorted(
        (pair for pair in listed if pair[1] not in known and pair[0] < before), reverse=True
    )
    return [run_id for _, run_id in earlier[:room]]


async def fetch_runs(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """Each run's events, oldest run first, at most MAX_RUNS.

    No runs when Temporal has no history for the id (never started, or past retention).
    """
    runs = await _latest_chain(client, workflow_id)
    room = MAX_RUNS - len(runs)
    if runs and room > 0 and not _started(runs[-1]).continued_execution_run_id:
        known = {_started(events).original_execution_run_id for events in runs}
        for run_id in await _earlier_run_ids(
            client, workflow_id, _start_time(runs[-1]), known, room
        ):
            events = await _events_or_none(client, workflow_id, run_id)
            if events is not None:
                runs.append(events)
    runs.reverse()
    return runs
