"""A reminder's timeline, read from its workflow's Temporal history (every run of it;
reminder_client.py reads them from Temporal).

Pure: takes the history events of each run, oldest run first, and answers readable
entries. Payloads are decoded with a payload converter (the client's in the API, the
default one in tests), so a recorded history turns into the same timeline offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter, PayloadConverter

from workflows.contracts import SEND_PREFIX, is_manual_key, manual_key, resend_key

# A local activity's result is a marker in the history: its type in "data", no input.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
_CHANNELS = {"email": "Email", "sms": "SMS", "whatsapp": "WhatsApp"}
_ENDED = ("completed", "cancelled")
_SIGNAL_VERBS = {
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


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def describe_schedule(schedule: Any) -> str:
    """One line for a schedule dict as API.md defines it."""
    if not isinstance(schedule, dict):
        return "no schedule"
    kind = schedule.get("kind")
    if kind == "once":
        return f"once at {schedule.get('at')}"
    if kind == "recurring":
        text = f"recurring {schedule.get('rrule')} from {schedule.get('start')}"
        if schedule.get("until"):
            text += f" until {schedule['until']}"
        if schedule.get("count"):
            text += f", {schedule['count']} times"
        return text
    if kind == "deadline":
        offsets = ", ".join(str(o) for o in schedule.get("offsets") or [])
        return f"deadline due {schedule.get('due_at')}, reminders at {offsets or 'the due time'}"
    return f"{kind} schedule"


def _channel(value: Any) -> str:
    return _CHANNELS.get(str(value), str(value))


def _who(args: Mapping[str, Any], identity: str) -> str:
    if args.get("by"):
        return str(args["by"])
    return f"an operator ({identity})" if identity else "an operator"


@dataclass
class _Activity:
    name: str
    args: dict[str, Any]
    event_id: int
    at: datetime
    attempt: int = 1


class _RunReader:
    """Reads one run's events; keeps the scheduled activities to pair with their outcome."""

    def __init__(self, converter: PayloadConverter, first_run: bool) -> None:
        self.converter = converter
        self.first_run = first_run
        # A run started with the reminder already ended (only a resend starts one).
        self.after_end = False
        self.entries: list[tuple[int, Entry]] = []
        self.activities: dict[int, _Activity] = {}

    def decode(self, payloads: Payloads) -> Any:
        if not payloads.payloads:
            return None
        try:
            values = self.converter.from_payloads(list(payloads.payloads))
        except Exception:  # a payload this build cannot read is shown as missing, not a 500
            return None
        return values[0] if values else None

    def args(self, payloads: Payloads) -> dict[str, Any]:
        value = self.decode(payloads)
        return value if isinstance(value, dict) else {}

    def add(self, event: HistoryEvent, kind: str, text: str, **details: Any) -> None:
        self.add_at(event.event_id, _time(event), kind, text, details)

    def add_at(
        self, event_id: int, at: datetime, kind: str, text: str, details: dict[str, Any]
    ) -> None:
        clean = {key: value for key, value in details.items() if value not in (None, "", [])}
        self.entries.append((event_id, Entry(at=at, kind=kind, text=text, details=clean)))

    def read(self, events: Sequence[HistoryEvent]) -> list[Entry]:
        for event in events:
            which = event.WhichOneof("attributes")
            handler = getattr(self, f"_on_{which}", None) if which else None
            if handler is not None:
                handler(event)
        for activity in self.activities.values():  # scheduled and not finished yet
            self._pending(activity)
        self.entries.sort(key=lambda pair: pair[0])
        return [entry for _, entry in self.entries]

    # -- the workflow itself -----------------------------------------------------------

    def _on_workflow_execution_started_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_started_event_attributes
        data = self.args(attrs.input)
        schedule = data.get("schedule")
        if attrs.continued_execution_run_id:
            if self.first_run:  # earlier runs were not read; say where this one came from
                self.add(
                    event,
                    "continued",
                    f"Continued from an earlier run; {data.get('occurrences_sent', 0)} "
                    f"occurrences sent so far",
                    schedule=schedule,
                    timezone=data.get("timezone"),
                    state=data.get("state"),
                )
            return
        if data.get("state") in _ENDED:
            self._started_after_end(event, data)
            return
        self.add(
            event,
            "started",
            f"Started: {describe_schedule(schedule)} ({data.get('timezone')})",
            schedule=schedule,
            timezone=data.get("timezone"),
            request_id=data.get("request_id"),
        )

    def _started_after_end(self, event: HistoryEvent, data: dict[str, Any]) -> None:
        # The reminder had ended when this run began: only a resend starts a run so.
        self.after_end = True
        self.add(
            event,
            "restarted",
            f"Started again to resend; the reminder stays {data['state']}",
            state=data["state"],
            request_id=data.get("request_id"),
        )

    def _on_workflow_execution_signaled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        args = self.args(attrs.input)
        name = attrs.signal_name
        who = _who(args, attrs.identity)
        details: dict[str, Any] = {"signal": name, "by": args.get("by"), "identity": attrs.identity}
        if name == "trigger_now":
            key = manual_key(args["request_id"]) if args.get("request_id") else None
            self.add(event, "signal", f"Send now requested by {who}", occurrence_key=key, **details)
        elif name == "resend":
            self._resend(event, args, who, details)
        elif name == "reschedule":
            change = describe_schedule(args.get("schedule")) if args.get("schedule") else None
            zone = args.get("timezone")
            what = ", ".join(part for part in (change, zone and f"time zone {zone}") if part)
            self.add(
                event,
                "signal",
                f"Rescheduled by {who}: {what or 'no change'}",
                schedule=args.get("schedule"),
                timezone=zone,
                **details,
            )
        elif name in _SIGNAL_VERBS:
            reason = args.get("reason")
            text = f"{_SIGNAL_VERBS[name]} by {who}" + (f": {reason}" if reason else "")
            self.add(event, "signal", text, reason=reason, **details)
        else:
            self.add(event, "signal", f"Signal {name} from {who}", **details)

    def _resend(
        self, event: HistoryEvent, args: dict[str, Any], who: str, details: dict[str, Any]
    ) -> None:
        original = str(args.get("delivery_id") or "")
        key = resend_key(args["request_id"]) if args.get("request_id") else None
        self.add(
            event,
            "signal",
            f"Resend of {_channel(args.get('channel'))} to client {args.get('client_id')} "
            f"requested by {who}",
            client_id=args.get("client_id"),
            channel=args.get("channel"),
            occurrence_key=key,
            resend_of=original or None,
            **details,
        )

    def _on_timer_started_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.timer_started_event_attributes
        until = _time(event) + attrs.start_to_fire_timeout.ToTimedelta()
        self.add(event, "sleeping", f"Sleeping until {_iso(until)}", until=until.isoformat())

    def _on_timer_fired_event_attributes(self, event: HistoryEvent) -> None:
        self.add(event, "woke", "Woke up: an occurrence is due")

    def _on_timer_canceled_event_attributes(self, event: HistoryEvent) -> None:
        self.add(event, "woke", "Woken before the due time by a signal")

    def _on_workflow_execution_continued_as_new_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_continued_as_new_event_attributes
        data = self.args(attrs.input)
        self.add(
            event,
            "continued_as_new",
            "Continued as a new run to keep the history short; state carried over",
            new_run_id=attrs.new_execution_run_id,
            occurrences_sent=data.get("occurrences_sent"),
            state=data.get("state"),
        )

    def _on_workflow_execution_completed_event_attributes(self, event: HistoryEvent) -> None:
        result = self.args(event.workflow_execution_completed_event_attributes.result)
        state = str(result.get("state") or "completed")
        text = {
            "completed": "Completed: no further occurrences",
            "cancelled": "Cancelled: no further occurrences",
        }.get(state, f"Ended ({state})")
        if self.after_end:
            text = f"Resend done; the reminder stays {state}"
        self.add(
            event,
            state if state in _ENDED else "ended",
            text,
            occurrences_sent=result.get("occurrences_sent"),
            last_occurrence=result.get("last_occurrence"),
        )

    def _on_workflow_execution_terminated_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_terminated_event_attributes
        reason = attrs.reason or "no reason given"
        self.add(event, "terminated", f"Terminated: {reason}", identity=attrs.identity)

    def _on_workflow_execution_failed_event_attributes(self, event: HistoryEvent) -> None:
        failure = event.workflow_execution_failed_event_attributes.failure
        self.add(event, "failed", f"Workflow failed: {failure.message}", error=failure.message)

    def _on_workflow_execution_timed_out_event_attributes(self, event: HistoryEvent) -> None:
        self.add(event, "failed", "Workflow timed out")

    def _on_workflow_execution_canceled_event_attributes(self, event: HistoryEvent) -> None:
        self.add(event, "cancelled", "Workflow cancelled through Temporal")

    def _on_workflow_task_failed_event_attributes(self, event: HistoryEvent) -> None:
        failure = event.workflow_task_failed_event_attributes.failure
        self.add(event, "error", f"Workflow task failed: {failure.message}", error=failure.message)

    # -- activities --------------------------------------------------------------------

    def _on_activity_task_scheduled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        args = self.args(attrs.input)
        self.activities[event.event_id] = _Activity(name, args, event.event_id, _time(event))
        if name == "sync_reminder":  # what the workflow decided; the outcome adds nothing
            self._state(event, args)

    def _on_marker_recorded_event_attributes(self, event: HistoryEvent) -> None:
        """Who to send to and the row's state, as local activities (`local-bookkeeping-v1`):
        their results say what their inputs did for an activity task."""
        attrs = event.marker_recorded_event_attributes
        if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in attrs.details:
            return  # a patch marker, or a local activity that failed (it is retried)
        data = self.args(attrs.details["data"]) if "data" in attrs.details else {}
        result = self.args(attrs.details["result"])
        name = data.get("activity_type")
        if name == "sync_reminder":
            self._state(event, result)
        elif name == "resolve_targets":
            args = {"occurrence_key": result.get("occurrence_key")}
            self._fired(event, _Activity(name, args, event.event_id, _time(event)), result)

    def _on_activity_task_started_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_started_event_attributes
        activity = self.activities.get(attrs.scheduled_event_id)
        if activity is not None:
            activity.attempt = attrs.attempt

    def _on_activity_task_completed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_completed_event_attributes
        activity = self.activities.pop(attrs.scheduled_event_id, None)
        if activity is None:
            return
        result = self.decode(attrs.result)
        if activity.name.startswith(SEND_PREFIX):
            self._sent(event, activity, result if isinstance(result, dict) else {})
        elif activity.name == "resolve_targets":
            self._fired(event, activity, result if isinstance(result, dict) else {})
        elif activity.name == "record_skipped":
            self._skipped(event, activity, result)
        elif activity.name == "record_deferral":
            self._deferred(event, activity)
        elif activity.name != "sync_reminder":
            self.add(event, "activity", f"{activity.name} done", activity=activity.name)

    def _on_activity_task_failed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_failed_event_attributes
        info = attrs.failure.application_failure_info
        self._failed(
            event,
            attrs.scheduled_event_id,
            attrs.failure.message,
            error_code=info.type or None,
            non_retryable=info.non_retryable or None,
        )

    def _on_activity_task_timed_out_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_timed_out_event_attributes
        self._failed(event, attrs.scheduled_event_id, attrs.failure.message or "timed out")

    def _on_activity_task_canceled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_canceled_event_attributes
        self._failed(event, attrs.scheduled_event_id, "cancelled")

    def _state(self, event: HistoryEvent, view: dict[str, Any]) -> None:
        state = view.get("state")
        next_at = view.get("next_fire_at")
        text = f"State {state}" + (f"; next occurrence at {next_at}" if next_at else "")
        self.add(
            event,
            "state",
            text,
            state=state,
            next_fire_at=next_at,
            occurrences_sent=view.get("occurrences_sent"),
        )

    def _fired(self, event: HistoryEvent, activity: _Activity, result: dict[str, Any]) -> None:
        key = activity.args.get("occurrence_key")
        label = "Manual send" if is_manual_key(str(key)) else "Occurrence"
        if result.get("exists") is False:
            text = f"{label} {key}: the reminder no longer exists, nothing sent"
            self.add(event, "fired", text, occurrence_key=key)
            return
        targets = result.get("targets") or []
        self.add(
            event,
            "fired",
            f"{label} {key} fired: {len(targets)} message(s) to send",
            occurrence_key=key,
            targets=targets,
        )

    def _sent(self, event: HistoryEvent, activity: _Activity, result: dict[str, Any]) -> None:
        args = activity.args
        status = result.get("status") or "unknown"
        text = f"{_channel(args.get('channel'))} to client {args.get('client_id')}: {status}"
        reason = result.get("error_message") or result.get("error_code")
        if reason:
            text += f" ({reason})"
        if args.get("fallback_from"):
            text += f", instead of {_channel(args['fallback_from'])}"
        if args.get("resend_of"):
            text += f", resending delivery {str(args['resend_of'])[:8]}"
        self.add(
            event,
            "delivery",
            text,
            client_id=args.get("client_id"),
            channel=args.get("channel"),
            occurrence_key=args.get("occurrence_key"),
            status=status,
            delivery_id=result.get("delivery_id"),
            provider_message_id=result.get("provider_message_id"),
            error_code=result.get("error_code"),
            error_message=result.get("error_message"),
            attempt=activity.attempt if activity.attempt > 1 else None,
            fallback_from=args.get("fallback_from"),
            resend_of=args.get("resend_of"),
        )

    def _deferred(self, event: HistoryEvent, activity: _Activity) -> None:
        args = activity.args
        channel = _channel(args.get("channel"))
        if args.get("stopped"):
            text = (
                f"{channel} to client {args.get('client_id')} skipped: the reminder was "
                f"{args['stopped']} before the send window opened"
            )
            kind = "skipped"
        else:
            text = (
                f"{channel} to client {args.get('client_id')} held until the send window "
                f"opens at {args.get('until')}"
            )
            kind = "deferred"
        self.add(
            event,
            kind,
            text,
            client_id=args.get("client_id"),
            channel=args.get("channel"),
            occurrence_key=args.get("occurrence_key"),
            until=args.get("until"),
            reason=args.get("stopped"),
        )

    def _skipped(self, event: HistoryEvent, activity: _Activity, count: Any) -> None:
        key = activity.args.get("occurrence_key")
        reason = activity.args.get("reason")
        self.add(
            event,
            "skipped",
            f"Occurrence {key} skipped ({reason}); {count if count is not None else 0} "
            f"message(s) recorded as skipped",
            occurrence_key=key,
            reason=reason,
            scheduled_for=activity.args.get("scheduled_for"),
        )

    def _failed(self, event: HistoryEvent, scheduled_id: int, message: str, **extra: Any) -> None:
        activity = self.activities.pop(scheduled_id, None)
        if activity is None:
            return
        args = activity.args
        if activity.name.startswith(SEND_PREFIX):
            channel = _channel(args.get("channel"))
            self.add(
                event,
                "delivery_failed",
                f"{channel} to client {args.get('client_id')} failed: {message}",
                client_id=args.get("client_id"),
                channel=args.get("channel"),
                occurrence_key=args.get("occurrence_key"),
                error=message,
                attempt=activity.attempt,
                **extra,
            )
        else:
            self.add(
                event,
                "error",
                f"{activity.name} failed: {message}",
                activity=activity.name,
                error=message,
                **extra,
            )

    def _pending(self, activity: _Activity) -> None:
        args = activity.args
        if activity.name.startswith(SEND_PREFIX):
            text = f"Sending {args.get('channel')} to client {args.get('client_id')} (in progress)"
            details = {
                "client_id": args.get("client_id"),
                "channel": args.get("channel"),
                "occurrence_key": args.get("occurrence_key"),
            }
        else:
            text, details = f"{activity.name} in progress", {"activity": activity.name}
        self.add_at(activity.event_id, activity.at, "pending", text, details)


def build_timeline(
    runs: Sequence[Sequence[HistoryEvent]], converter: PayloadConverter | None = None
) -> list[Entry]:
    """The entries of every run, oldest first; `runs` is ordered oldest run first."""
    converter = converter or DataConverter.default.payload_converter
    timeline: list[Entry] = []
    for index, events in enumerate(runs):
        timeline.extend(_RunReader(converter, first_run=index == 0).read(events))
    return timeline


def name_clients(timeline: list[Entry], names: Mapping[str, str]) -> None:
    """Put client names where entries say `client <id>`, and beside the id in details."""
    for entry in timeline:
        client_id = entry.details.get("client_id")
        if client_id is None or client_id not in names:
            continue
        entry.details["client_name"] = names[client_id]
        entry.text = entry.text.replace(f"client {client_id}", names[client_id])


def client_ids(timeline: Sequence[Entry]) -> set[str]:
    return {str(e.details["client_id"]) for e in timeline if e.details.get("client_id")}
