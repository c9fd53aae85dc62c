"""The runs of a reminder's workflow, read from Temporal for its timeline (history.py).

Every run of `reminder-<id>`, oldest first, at most MAX_RUNS (the newest). A long
recurrence continues as new, and each run's start names the run it continues, so the
latest run leads back along that chain. A resend to a reminder whose workflow had ended
starts a new, separate run of the same id (core/workflow_start.py) that names no earlier
run: the runs before it are found through visibility, as every execution of the id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)

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
