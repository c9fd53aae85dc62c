"""A reminder's timeline, the activities' part: what each scheduled activity did (sent,
deferred, skipped, failed, still running), paired with its outcome; the entries of a run
as they are read (workflows/history.py reads the workflow's own events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import PayloadConverter

from workflows.contracts import SEND_PREFIX, is_manual_key
from workflows.history_text import (
    LOCAL_ACTIVITY_MARKER,
    Entry,
    channel_label,
    event_time,
)


@dataclass
class Activity:
    name: str
    args: dict[str, Any]
    event_id: int
    at: datetime
    attempt: int = 1


class RunEntries:
    """One run's entries as they are read, and the activities scheduled and not yet paired
    with their outcome (history.py's reader adds the workflow's own events)."""

    def __init__(self, converter: PayloadConverter, first_run: bool) -> None:
        self.converter = converter
        self.first_run = first_run
        # A run started with the reminder already ended (only a resend starts one).
        self.after_end = False
        self.entries: list[tuple[int, Entry]] = []
        self.activities: dict[int, Activity] = {}
        # Clients done, per period: from the run's input and its client_done signals.
        self.done: dict[str, set[str]] = {}

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
        self.add_at(event.event_id, event_time(event), kind, text, details)

    def add_at(
        self, event_id: int, at: datetime, kind: str, text: str, details: dict[str, Any]
    ) -> None:
        clean = {key: value for key, value in details.items() if value not in (None, "", [])}
        self.entries.append((event_id, Entry(at=at, kind=kind, text=text, details=clean)))

    # -- activities --------------------------------------------------------------------

    def _on_activity_task_scheduled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        args = self.args(attrs.input)
        self.activities[event.event_id] = Activity(name, args, event.event_id, event_time(event))
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
            self._fired(event, Activity(name, args, event.event_id, event_time(event)), result)

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
        elif activity.name == "escalate_client":
            self._escalated(event, activity, result is True)
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

    def _escalated(self, event: HistoryEvent, activity: Activity, told: bool) -> None:
        args = activity.args
        client, sends = args.get("client_id"), args.get("sends")
        text = f"Client {client} not done after {sends} message(s) of the period due "
        text += f"{args.get('period')}: " + ("staff told by email" if told else "nobody to tell")
        self.add(event, "escalated", text, client_id=client, period=args.get("period"), told=told)

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

    def _fired(self, event: HistoryEvent, activity: Activity, result: dict[str, Any]) -> None:
        key = activity.args.get("occurrence_key")
        label = "Manual send" if is_manual_key(str(key)) else "Occurrence"
        if result.get("exists") is False:
            text = f"{label} {key}: the reminder no longer exists, nothing sent"
            self.add(event, "fired", text, occurrence_key=key)
            return
        targets = result.get("targets") or []
        done = self.done.get(str(result.get("period")), set())
        sending = [target for target in targets if target.get("client_id") not in done]
        text = f"{label} {key} fired: {len(sending)} message(s) to send"
        if len(sending) < len(targets):
            text += f" ({len(targets) - len(sending)} to clients done for the period: not sent)"
        self.add(event, "fired", text, occurrence_key=key, targets=sending)

    def _sent(self, event: HistoryEvent, activity: Activity, result: dict[str, Any]) -> None:
        args = activity.args
        status = result.get("status") or "unknown"
        text = f"{channel_label(args.get('channel'))} to client {args.get('client_id')}: {status}"
        reason = result.get("error_message") or result.get("error_code")
        if reason:
            text += f" ({reason})"
        if args.get("fallback_from"):
            text += f", instead of {channel_label(args['fallback_from'])}"
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

    def _deferred(self, event: HistoryEvent, activity: Activity) -> None:
        args = activity.args
        channel = channel_label(args.get("channel"))
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

    def _skipped(self, event: HistoryEvent, activity: Activity, count: Any) -> None:
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
            channel = channel_label(args.get("channel"))
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

    def _pending(self, activity: Activity) -> None:
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
