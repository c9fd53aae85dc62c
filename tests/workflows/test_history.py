"""GET /reminders/{id}/history: the timeline read from the workflow's Temporal history.

The mapping from events to entries is tested on hand-made histories (every kind of event,
offline); the route is tested end to end on the dev server, including a reminder whose
workflow continued as new."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import ActivityType, Payload, Payloads
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import (
    ActivityTaskCompletedEventAttributes,
    ActivityTaskFailedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    TimerCanceledEventAttributes,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
    WorkflowExecutionCompletedEventAttributes,
    WorkflowExecutionContinuedAsNewEventAttributes,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
)
from temporalio.converter import DataConverter

from tests.builders.api import (
    REMINDERS_URL,
    add_client,
    create_reminder,
    once,
    reminder_body,
    settled,
    wait_for_delivery,
    wait_for_status,
)
from tests.conftest import Tenant, add_member, eventually
from workflows.contracts import ReminderInput, workflow_id_for
from workflows.history import build_timeline, describe_schedule, name_clients

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SCHEDULE = {"kind": "once", "at": "2026-12-01T10:00:00+00:00"}
CLIENT = "6f1c2a52-0000-4000-8000-000000000001"


def payloads(*values: Any) -> Payloads:
    return Payloads(payloads=DataConverter.default.payload_converter.to_payloads(list(values)))


class Recorder:
    """Builds a history the way the server writes one: ids in order, times ascending."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []

    def add(self, seconds: float, **attributes: Any) -> int:
        event = HistoryEvent(event_id=len(self.events) + 1, **attributes)
        event.event_time.FromDatetime(T0 + timedelta(seconds=seconds))
        self.events.append(event)
        return event.event_id

    def started(self, seconds: float = 0, continued_from: str = "", **data: Any) -> None:
        value = {"reminder_id": "r", "business_id": "b", "schedule": SCHEDULE, "timezone": "UTC"}
        attrs = WorkflowExecutionStartedEventAttributes(
            input=payloads({**value, **data}), continued_execution_run_id=continued_from
        )
        self.add(seconds, workflow_execution_started_event_attributes=attrs)

    def signal(self, seconds: float, name: str, args: Any, identity: str = "api@host") -> None:
        attrs = WorkflowExecutionSignaledEventAttributes(
            signal_name=name, input=payloads(args), identity=identity
        )
        self.add(seconds, workflow_execution_signaled_event_attributes=attrs)

    def activity(self, seconds: float, name: str, args: Any) -> int:
        attrs = ActivityTaskScheduledEventAttributes(
            activity_type=ActivityType(name=name), input=payloads(args)
        )
        return self.add(seconds, activity_task_scheduled_event_attributes=attrs)

    def completed(self, seconds: float, scheduled: int, result: Any, attempt: int = 1) -> None:
        started = ActivityTaskStartedEventAttributes(scheduled_event_id=scheduled, attempt=attempt)
        self.add(seconds, activity_task_started_event_attributes=started)
        attrs = ActivityTaskCompletedEventAttributes(
            scheduled_event_id=scheduled, result=payloads(result)
        )
        self.add(seconds, activity_task_completed_event_attributes=attrs)


def send(key: str = "2026-12-01T10:00:00Z", channel: str = "email") -> dict[str, Any]:
    return {"reminder_id": "r", "client_id": CLIENT, "channel": channel, "occurrence_key": key}


def test_a_run_reads_as_a_timeline_oldest_first() -> None:
    run = Recorder()
    run.started()
    run.add(0.1, workflow_task_completed_event_attributes=WorkflowTaskCompletedEventAttributes())
    sync = run.activity(0.2, "sync_reminder", {"state": "scheduled", "next_fire_at": "X"})
    run.completed(0.3, sync, None)
    timer = TimerStartedEventAttributes(timer_id="1", start_to_fire_timeout=Duration(seconds=3600))
    run.add(0.4, timer_started_event_attributes=timer)
    run.signal(10, "pause", {"by": "ann@firm.example.com", "reason": "client on holiday"})
    run.add(10.1, timer_canceled_event_attributes=TimerCanceledEventAttributes(timer_id="1"))
    run.signal(20, "resume", {"by": None}, identity="4242@ops-box")
    run.signal(30, "trigger_now", {"by": "bo@firm.example.com", "request_id": "abc"})
    run.signal(40, "reschedule", {"schedule": SCHEDULE, "timezone": "Europe/London", "by": "ann"})
    run.add(3600, timer_fired_event_attributes=TimerFiredEventAttributes(timer_id="2"))
    targets = run.activity(3600, "resolve_targets", {"occurrence_key": "2026-12-01T10:00:00Z"})
    run.completed(3600.1, targets, {"exists": True, "targets": [{"client_id": CLIENT}] * 2})
    email = run.activity(3600.2, "send_email", send())
    sms = run.activity(3600.2, "send_sms", send(channel="sms"))
    run.completed(3600.3, email, {"delivery_id": "d1", "status": "delivered"}, attempt=3)
    failure = Failure(
        message="invalid phone number",
        application_failure_info=ApplicationFailureInfo(type="21211", non_retryable=True),
    )
    run.add(
        3600.4,
        activity_task_failed_event_attributes=ActivityTaskFailedEventAttributes(
            scheduled_event_id=sms, failure=failure
        ),
    )
    run.activity(3600.5, "send_whatsapp", send(channel="whatsapp"))  # still retrying
    result = {"state": "completed", "occurrences_sent": 1, "last_occurrence": "k"}
    run.add(
        3601,
        workflow_execution_completed_event_attributes=WorkflowExecutionCompletedEventAttributes(
            result=payloads(result)
        ),
    )

    timeline = build_timeline([run.events])
    kinds = [entry.kind for entry in timeline]
    assert kinds == [
        "started",
        "state",
        "sleeping",
        "signal",
        "woke",
        "signal",
        "signal",
        "signal",
        "woke",
        "fired",
        "delivery",
        "delivery_failed",
        "pending",
        "completed",
    ]
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)
    started, state, sleeping, pause, _, resume, trigger, reschedule = timeline[:8]
    assert started.text == f"Started: {describe_schedule(SCHEDULE)} (UTC)"
    assert started.details["schedule"] == SCHEDULE
    assert state.details == {"state": "scheduled", "next_fire_at": "X"}
    assert sleeping.text == "Sleeping until 2026-12-01T10:00:00+00:00"
    assert pause.text == "Paused by ann@firm.example.com: client on holiday"
    assert pause.details["by"] == "ann@firm.example.com"
    assert resume.text == "Resumed by an operator (4242@ops-box)"
    assert trigger.text == "Send now requested by bo@firm.example.com"
    assert trigger.details["occurrence_key"] == "manual-abc"
    assert "time zone Europe/London" in reschedule.text
    fired, delivered, failed, pending, done = timeline[9:]
    assert fired.text == "Occurrence 2026-12-01T10:00:00Z fired: 2 message(s) to send"
    assert delivered.text == f"Email to client {CLIENT}: delivered"
    assert delivered.details["attempt"] == 3
    assert failed.text == f"SMS to client {CLIENT} failed: invalid phone number"
    assert (failed.details["error_code"], failed.details["non_retryable"]) == ("21211", True)
    assert pending.details["channel"] == "whatsapp"
    assert pending.at < done.at
    assert done.text == "Completed: no further occurrences"

    name_clients(timeline, {CLIENT: "Alice Jones"})
    assert delivered.text == "Email to Alice Jones: delivered"
    assert delivered.details["client_name"] == "Alice Jones"


def test_runs_chained_by_continue_as_new_read_as_one_timeline() -> None:
    first, second = Recorder(), Recorder()
    first.started()
    skipped = first.activity(5, "record_skipped", {"occurrence_key": "k1", "reason": "paused"})
    first.completed(5.1, skipped, 2)
    first.add(
        6,
        workflow_execution_continued_as_new_event_attributes=(
            WorkflowExecutionContinuedAsNewEventAttributes(
                new_execution_run_id="run-2", input=payloads({"occurrences_sent": 4})
            )
        ),
    )
    second.started(6, continued_from="run-1", occurrences_sent=4)
    second.add(
        7,
        workflow_execution_terminated_event_attributes=WorkflowExecutionTerminatedEventAttributes(
            reason="cleanup", identity="ops"
        ),
    )

    timeline = build_timeline([first.events, second.events])
    assert [entry.kind for entry in timeline] == [
        "started",
        "skipped",
        "continued_as_new",
        "terminated",
    ]
    assert timeline[1].text == "Occurrence k1 skipped (paused); 2 message(s) recorded as skipped"
    assert timeline[2].details["new_run_id"] == "run-2"
    assert timeline[3].text == "Terminated: cleanup"

    # When the oldest run read is itself a continuation, the timeline says so.
    alone = build_timeline([second.events])
    assert alone[0].kind == "continued"
    assert "4 occurrences sent" in alone[0].text


def test_payloads_it_cannot_read_do_not_break_the_timeline() -> None:
    run = Recorder()
    unreadable = Payloads(payloads=[Payload(metadata={"encoding": b"binary/encrypted"}, data=b"?")])
    attrs = WorkflowExecutionSignaledEventAttributes(signal_name="pause", input=unreadable)
    run.add(0, workflow_execution_signaled_event_attributes=attrs)
    run.signal(1, "custom_signal", "not a dict")
    timeline = build_timeline([run.events])
    assert [entry.text for entry in timeline] == [
        "Paused by an operator",
        "Signal custom_signal from an operator (api@host)",
    ]


def test_schedules_read_as_one_line() -> None:
    assert describe_schedule({"kind": "once", "at": "T"}) == "once at T"
    recurring = {"kind": "recurring", "rrule": "FREQ=DAILY", "start": "S", "count": 3}
    assert describe_schedule(recurring) == "recurring FREQ=DAILY from S, 3 times"
    deadline = {"kind": "deadline", "due_at": "D", "offsets": ["-P1D", "PT0S"]}
    assert describe_schedule(deadline) == "deadline due D, reminders at -P1D, PT0S"
    assert describe_schedule(None) == "no schedule"


def test_a_schedules_line_names_its_skipped_dates_and_business_days() -> None:
    recurring = {
        "kind": "recurring",
        "rrule": "FREQ=DAILY",
        "start": "S",
        "exdates": ["2026-12-25", "2026-12-26"],
        "business_days": {"country": "GB", "subdivision": "ENG", "move": "next", "holidays": []},
    }
    assert describe_schedule(recurring) == (
        "recurring FREQ=DAILY from S, skipping 2026-12-25, 2026-12-26, "
        "on business days in GB-ENG (else the next one)"
    )
    deadline = {
        "kind": "deadline",
        "due_at": "D",
        "offsets": ["PT0S"],
        "business_days": {"country": "US", "move": "previous"},
    }
    assert describe_schedule(deadline) == (
        "deadline due D, reminders at PT0S, on business days in US (else the previous one)"
    )


# -- end to end ------------------------------------------------------------------------------


async def history(http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, **params: Any) -> Any:
    response = await http.get(
        f"{REMINDERS_URL}/{reminder_id}/history", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_history_shows_who_signalled_and_what_was_delivered(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    staff = await add_member(client, owner)
    client_id = await add_client(client, owner, "Alice Jones")
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=once(3)))
    url = f"{REMINDERS_URL}/{created['id']}"
    for action in ("pause", "resume"):
        await settled(temporal_dev, created)
        response = await client.post(f"{url}/{action}", headers=staff.headers)
        assert response.status_code == 200, response.text
    await settled(temporal_dev, created)
    trigger = await client.post(f"{url}/trigger", headers=owner.headers)
    manual_key = trigger.json()["occurrence_key"]
    await wait_for_delivery(client, owner, created["id"], "delivered")
    await wait_for_status(client, owner, created["id"], "completed")
    # The row says completed as soon as the workflow's last activity records it, a moment
    # before the workflow itself closes: read the history once it has.
    handle = temporal_dev.client.get_workflow_handle(created["workflow_id"])
    await asyncio.wait_for(handle.result(), timeout=30)

    found = await history(client, owner, created["id"], limit=200)
    assert found["workflow_id"] == created["workflow_id"]
    assert found["runs"] == 1
    entries = found["items"]
    assert found["total"] == len(entries)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    texts = [e["text"] for e in entries]
    assert entries[0]["kind"] == "started"
    assert entries[0]["details"]["schedule"] == created["schedule"]
    assert entries[-1]["kind"] == "completed"
    assert f"Paused by {staff.email}" in texts
    assert f"Resumed by {staff.email}" in texts
    assert f"Send now requested by {owner.email}" in texts
    assert any(e["kind"] == "sleeping" for e in entries)
    deliveries = [e for e in entries if e["kind"] == "delivery"]
    assert [d["text"] for d in deliveries] == ["Email to Alice Jones: delivered"] * 2
    assert {d["details"]["occurrence_key"] for d in deliveries} == {
        manual_key,
        datetime.fromisoformat(created["schedule"]["at"]).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert all(d["details"]["client_id"] == client_id for d in deliveries)

    page = await history(client, owner, created["id"], limit=2, offset=1)
    assert page["items"] == entries[1:3]
    assert page["total"] == len(entries)


async def test_history_follows_the_runs_of_a_workflow_that_continued_as_new(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any, settings: Any
) -> None:
    client_id = await add_client(client, owner, "Bob")
    due = datetime.now(UTC) + timedelta(seconds=4)
    schedule = {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-PT2S", "PT0S"]}
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=schedule))
    # Run the same reminder again with a tiny history limit, so it continues as new after
    # each occurrence (the API's runs allow 2000 events).
    workflow_id = workflow_id_for(created["id"])
    await temporal_dev.client.get_workflow_handle(workflow_id).terminate(reason="test")
    await temporal_dev.client.start_workflow(
        "ReminderWorkflow",
        ReminderInput(
            reminder_id=created["id"],
            business_id=owner.business_id,
            schedule=created["schedule"],
            timezone=created["timezone"],
            history_limit=10,
            cursor=datetime.now(UTC).isoformat(),
        ),
        id=workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
    )

    async def finished() -> bool:
        found = await history(client, owner, created["id"], limit=200)
        return bool(found["items"] and found["items"][-1]["kind"] == "completed")

    await eventually(finished, timeout=20, interval=0.3)
    found = await history(client, owner, created["id"], limit=200)
    assert found["runs"] >= 3
    kinds = [e["kind"] for e in found["items"]]
    assert kinds[0] == "started"
    assert "continued_as_new" in kinds
    # The run the API started, terminated above, is a run of the id too: it comes first,
    # though nothing links the new run to it.
    assert kinds.index("terminated") < kinds.index("started", 1) < kinds.index("continued_as_new")
    deliveries = [e for e in found["items"] if e["kind"] == "delivery"]
    assert len(deliveries) == 2
    assert all(d["text"] == "Email to Bob: delivered" for d in deliveries)


async def test_history_of_another_business_reminder_is_404(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    response = await client.get(
        f"{REMINDERS_URL}/{created['id']}/history", headers=other_owner.headers
    )
    assert response.status_code == 404
    assert (await history(client, owner, created["id"]))["items"][0]["kind"] == "started"
    missing = await client.get(f"{REMINDERS_URL}/{uuid.uuid4()}/history", headers=owner.headers)
    assert missing.status_code == 404


def _recorded(name: str) -> list[HistoryEvent]:
    from tests.builders.delivery import HISTORIES, load_history

    return list(load_history(HISTORIES / f"{name}.json").events)


def test_a_send_held_for_the_window_reads_as_deferred_then_sent() -> None:
    timeline = build_timeline([_recorded("held_for_send_window")])
    kinds = [entry.kind for entry in timeline]
    assert kinds.index("fired") < kinds.index("deferred") < kinds.index("delivery")
    deferred = timeline[kinds.index("deferred")]
    assert deferred.text.startswith("SMS to client ")
    assert "held until the send window opens at " in deferred.text
    assert deferred.details["channel"] == "sms"
    opens = datetime.fromisoformat(deferred.details["until"])
    assert timeline[kinds.index("delivery")].at >= opens  # sent once the window opened


def test_a_fallback_reads_as_a_failure_then_a_send_instead() -> None:
    timeline = build_timeline([_recorded("fallback_after_bounce")])
    failed = next(entry for entry in timeline if entry.kind == "delivery_failed")
    assert "smtp_550" in failed.text
    sent = next(entry for entry in timeline if entry.kind == "delivery")
    assert sent.details["fallback_from"] == "email"
    assert sent.text.endswith(": delivered, instead of Email")


def test_local_bookkeeping_reads_as_the_same_timeline_as_activity_tasks() -> None:
    """The same scenario recorded before and after `local-bookkeeping-v1`: the occurrences,
    states and deliveries read alike, though the newer history holds markers."""

    def outline(name: str) -> list[tuple[str, str]]:
        timeline = build_timeline([_recorded(name)])
        ids = {entry.details.get("client_id") for entry in timeline} - {None}
        texts = [(entry.kind, entry.text) for entry in timeline]
        for client_id in ids:  # each recording has its own client and reminder
            texts = [(kind, text.replace(str(client_id), "C")) for kind, text in texts]
        return [(kind, re.sub(r"\d{4}-\d\d-\d\dT[0-9:.+Z]+", "T", text)) for kind, text in texts]

    before, after = outline("pause_then_resume"), outline("local_bookkeeping")
    assert [kind for kind, _ in after].count("fired") == 2
    assert [kind for kind, _ in after].count("state") >= 4
    assert ("state", "State completed") in after
    assert after == before


def test_a_client_done_mid_period_reads_as_marked_then_left_out_and_the_other_escalated() -> None:
    timeline = build_timeline([_recorded("client_done_and_escalated")])
    kinds = [entry.kind for entry in timeline]
    done = timeline[kinds.index("signal")]
    assert done.details["source"] == "staff"
    assert done.text.endswith(", marked by recorder")
    fired = [entry for entry in timeline if entry.kind == "fired"]
    assert [len(entry.details["targets"]) for entry in fired] == [2, 1, 1, 1]
    assert fired[1].text.endswith("(1 to clients done for the period: not sent)")
    assert done.details["client_id"] not in {t["client_id"] for t in fired[1].details["targets"]}
    (escalated,) = [entry for entry in timeline if entry.kind == "escalated"]
    assert "not done after 2 message(s)" in escalated.text
    assert escalated.details["client_id"] != done.details["client_id"]
    assert kinds.index("signal") < kinds.index("escalated")
