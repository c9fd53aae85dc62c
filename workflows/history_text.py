"""How a reminder's timeline says things (workflows/history.py): its entries, times,
channel names, who did something, and a schedule in one line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.history.v1 import HistoryEvent

# A local activity's result is a marker in the history: its type in "data", no input.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "whatsapp": "WhatsApp"}
ENDED = ("completed", "cancelled")
# How a client's "done" came (the client_done signal's source), as the timeline says it.
DONE_SOURCES = {
    "client": "done by the client, through their link",
    "sms": "done by the client, by SMS",
    "whatsapp": "done by the client, by WhatsApp",
}
SIGNAL_VERBS = {
    "pause": "Paused",
    "resume": "Resumed",
    "complete": "Marked complete",
    "cancel": "Cancelled",
}


@dataclass
class Entry:
    at: datetime
    kind: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def describe_schedule(schedule: Any) -> str:
    """One line for a schedule dict as API.md defines it."""
    if not isinstance(schedule, dict):
        return "no schedule"
    kind = schedule.get("kind")
    if kind == "once":
        return f"once at {schedule.get('at')}"
    if kind in ("recurring", "deadline_series"):
        what = "recurring" if kind == "recurring" else "deadlines"
        text = f"{what} {schedule.get('rrule')} from {schedule.get('start')}"
        if schedule.get("until"):
            text += f" until {schedule['until']}"
        if schedule.get("count"):
            text += f", {schedule['count']} times"
        if exdates := schedule.get("exdates"):
            text += f", skipping {', '.join(str(day) for day in exdates)}"
        if kind == "deadline_series":
            text += _offsets(schedule)
        return text + _business_days(schedule)
    if kind == "deadline":
        text = f"deadline due {schedule.get('due_at')}" + _offsets(schedule)
        return text + _business_days(schedule)
    return f"{kind} schedule"


def _offsets(schedule: dict[str, Any]) -> str:
    offsets = ", ".join(str(o) for o in schedule.get("offsets") or [])
    text = f", reminders at {offsets or 'the due time'}"
    if schedule.get("chase_every"):
        text += (
            f", then every {schedule['chase_every']} for {schedule.get('chase_until')} until done"
        )
    return text


def _business_days(schedule: dict[str, Any]) -> str:
    days = schedule.get("business_days")
    if not isinstance(days, dict):
        return ""
    where = "-".join(str(part) for part in (days.get("country"), days.get("subdivision")) if part)
    return f", on business days in {where} (else the {days.get('move', 'previous')} one)"


def channel_label(value: Any) -> str:
    return CHANNEL_LABELS.get(str(value), str(value))


def who_did(args: Mapping[str, Any], identity: str) -> str:
    if args.get("by"):
        return str(args["by"])
    return f"an operator ({identity})" if identity else "an operator"
