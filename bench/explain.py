"""Where a burst's time goes, read from the workflows' own histories.

For a sample of workflows, walks each history from the event that started the burst (the
timer firing) to the end, and adds up the time between consecutive events by kind:
waiting for a worker to pick a task up (`scheduled -> started`), running it (`started ->
completed`), and the worker's turn-around between them. Printed as seconds per workflow,
mean over the sample, so two runs (or the reminder and the ceiling) compare line by line.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from collections.abc import Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

SAMPLE = 40


def _name(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


def _activity_types(events: Sequence) -> dict[int, str]:
    return {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }


def _label(event, kinds: dict[int, str]) -> str:
    name = _name(event.event_type)
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        return f"{name} ({kinds.get(event.activity_task_started_event_attributes.scheduled_event_id, '?')})"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
        return f"{name} ({kinds.get(scheduled, '?')})"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return f"{name} ({event.activity_task_scheduled_event_attributes.activity_type.name})"
    return name


async def breakdown(client: Client, workflow_ids: Sequence[str]) -> dict[str, float]:
    """Mean seconds per workflow spent before each kind of event, from the timer firing on."""
    ids = random.sample(list(workflow_ids), min(SAMPLE, len(workflow_ids)))
    totals: dict[str, float] = defaultdict(float)
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        events = list(history.events)
        kinds = _activity_types(events)
        start = next(
            (i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED),
            None,
        )
        if start is None:
            continue
        for before, event in zip(events[start:], events[start + 1 :], strict=False):
            gap = event.event_time.ToDatetime() - before.event_time.ToDatetime()
            totals[f"{_label(before, kinds)} -> {_label(event, kinds)}"] += gap.total_seconds()
    return {key: value / max(1, len(ids)) for key, value in totals.items()}


def show(title: str, figures: dict[str, float]) -> None:
    lines = [f"\nwhere a workflow's time went after its timer fired ({title}; mean of a sample):"]
    for key, seconds in sorted(figures.items(), key=lambda item: -item[1]):
        lines.append(f"  {seconds:8.3f} s  {key}")
    lines.append(f"  {sum(figures.values()):8.3f} s  in all")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
