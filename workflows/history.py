"""A reminder's timeline, read from its workflow's Temporal history (every run of it;
reminder_client.py reads them from Temporal).

Pure: takes the history events of each run, oldest run first, and answers readable
entries. Payloads are decoded with a payload converter (the client's in the API, the
default one in tests), so a recorded history turns into the same timeline offline.
This module reads the workflow's own events (start, signals, timers, the end);
history_activities.py what its activities did, history_text.py how entries say things.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter, PayloadConverter

from workflows.contracts import manual_key, resend_key
from workflows.history_activities import RunEntries
from workflows.history_text import (
    DONE_SOURCES,
    ENDED,
    SIGNAL_VERBS,
    Entry,
    channel_label,
    describe_schedule,
    event_time,
    iso,
    who_did,
)

__all__ = ["Entry", "build_timeline", "client_ids", "describe_schedule", "name_clients"]


class _RunReader(RunEntries):
    """Reads one run's events: the workflow's own here, its activities' in RunEntries."""

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
        carried = (data.get("progress") or {}).get("done") or {}
        self.done = {period: set(ids) for period, ids in carried.items()}
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
        if data.get("state") in ENDED:
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
        who = who_did(args, attrs.identity)
        details: dict[str, Any] = {"signal": name, "by": args.get("by"), "identity": attrs.identity}
        if name == "trigger_now":
            key = manual_key(args["request_id"]) if args.get("request_id") else None
            self.add(event, "signal", f"Send now requested by {who}", occurrence_key=key, **details)
        elif name == "resend":
            self._resend(event, args, who, details)
        elif name == "client_done":
            self._client_done(event, args, who, details)
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
        elif name in SIGNAL_VERBS:
            reason = args.get("reason")
            text = f"{SIGNAL_VERBS[name]} by {who}" + (f": {reason}" if reason else "")
            self.add(event, "signal", text, reason=reason, **details)
        else:
            self.add(event, "signal", f"Signal {name} from {who}", **details)

    def _client_done(
        self, event: HistoryEvent, args: dict[str, Any], who: str, details: dict[str, Any]
    ) -> None:
        self.done.setdefault(str(args.get("period")), set()).add(str(args.get("client_id")))
        source = args.get("source") or "staff"
        how = DONE_SOURCES.get(source, source)
        text = f"Client {args.get('client_id')} done for the period due {args.get('period')}, "
        text += f"marked by {who}" if source == "staff" else how
        note, files = args.get("note"), list(args.get("files") or [])
        if note:
            text += f": {note}"
        if files:
            text += f" (files: {', '.join(files)})"
        self.add(
            event,
            "signal",
            text,
            client_id=args.get("client_id"),
            period=args.get("period"),
            source=source,
            note=note,
            files=files,
            **details,
        )

    def _resend(
        self, event: HistoryEvent, args: dict[str, Any], who: str, details: dict[str, Any]
    ) -> None:
        original = str(args.get("delivery_id") or "")
        key = resend_key(args["request_id"]) if args.get("request_id") else None
        self.add(
            event,
            "signal",
            f"Resend of {channel_label(args.get('channel'))} to client {args.get('client_id')} "
            f"requested by {who}",
            client_id=args.get("client_id"),
            channel=args.get("channel"),
            occurrence_key=key,
            resend_of=original or None,
            **details,
        )

    def _on_timer_started_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.timer_started_event_attributes
        until = event_time(event) + attrs.start_to_fire_timeout.ToTimedelta()
        self.add(event, "sleeping", f"Sleeping until {iso(until)}", until=until.isoformat())

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
            state if state in ENDED else "ended",
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
