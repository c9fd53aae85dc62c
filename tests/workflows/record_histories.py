"""Record ReminderWorkflow histories for the replay tests (test_replay.py).

    .venv/bin/python -m tests.workflows.record_histories [SCENARIO ...]

Runs each scenario for real: the time-skipping test server, a temporary SQLite database
migrated to head, and a worker with the project's workflows and activities (sandbox
providers, the project's sandbox runner). Each finished run's history is written to
histories/<scenario>.json. Every scenario checks its outcome first, so a recording is of
the workflow doing the right thing.

Record again only on purpose: the committed histories stand for reminders already
running in production, which a change to the workflow must still replay.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.models import Client as ClientRow
from core.temporal import placement
from ops import migrations
from tests.seed import deliveries_of
from tests.workflows.recording import (
    BOUNCES,
    DELIVERED,
    HISTORIES,
    LONDON,
    Recorder,
    expect,
    log,
    recorder,
)
from workflows.contracts import (
    ClientDoneArgs,
    RescheduleArgs,
    ResendArgs,
    SignalArgs,
    TriggerArgs,
)
from workflows.reminder import ReminderWorkflow
from workflows.reminder_client import resend_to_completed
from workflows.schedule import validate_schedule

# -- scenarios: each runs one reminder to its end and saves its history ----------------------


async def once_fired(r: Recorder) -> None:
    row = await r.reminder({"kind": "once", "at": (await r.now() + timedelta(days=1)).isoformat()})
    handle = await r.start(row)
    result = await handle.result()
    expect("state", result.state, "completed")
    expect("deliveries", await r.deliveries(row), [DELIVERED])
    await r.save("once_fired", handle.id)


async def recurring_monthly_across_dst(r: Recorder) -> None:
    # 09:00 London on the 15th of February, March and April: the clocks go forward at the
    # end of March, so the UTC hour changes from 9 to 8 between the second and third.
    year = (await r.now()).year + 1
    row = await r.reminder(
        {
            "kind": "recurring",
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0",
            "start": f"{year}-02-01T00:00:00+00:00",
            "count": 3,
        }
    )
    handle = await r.start(row)
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 3)
    expect("last occurrence", result.last_occurrence, f"{year}-04-15T08:00:00Z")
    expect("deliveries", await r.deliveries(row), [DELIVERED] * 3)
    await r.save("recurring_monthly_across_dst", handle.id)


async def deadline_completed_half_way(r: Recorder) -> None:
    due = await r.now() + timedelta(days=10)
    row = await r.reminder(
        {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-P7D", "-P1D", "PT0S"]}
    )
    handle = await r.start(row)
    await r.env.sleep(timedelta(days=5))  # past the -P7D nudge, before -P1D
    expect("deliveries before complete", await r.deliveries(row), [DELIVERED])
    await handle.signal(ReminderWorkflow.complete, SignalArgs(by="recorder"))
    result = await handle.result()
    expect("state", result.state, "completed")
    expect("occurrences sent", result.occurrences_sent, 1)
    await r.save("deadline_completed_half_way", handle.id)


async def pause_then_resume(r: Recorder, name: str = "pause_then_resume") -> None:
    start = (await r.now() + timedelta(hours=1)).replace(minute=0, second=0)
    row = await r.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY", "start": start.isoformat(), "count": 3},
        timezone="UTC",
    )
    handle = await r.start(row)
    await r.env.sleep(timedelta(minutes=1))
    await handle.signal(ReminderWorkflow.pause, SignalArgs(by="recorder", reason="on holiday"))
    await r.env.sleep(timedelta(hours=2))  # the first occurrence comes due while paused
    expect("deliveries while paused", await r.deliveries(row), [("skipped", "paused")])
    await handle.signal(ReminderWorkflow.resume, SignalArgs(by="recorder"))
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 2)
    expect("deliveries", await r.deliveries(row), [("skipped", "paused"), DELIVERED, DELIVERED])
    await r.save(name, handle.id)


async def local_bookkeeping(r: Recorder) -> None:
    """Recorded after `local-bookkeeping-v1`: who to send to and the row's state as local
    activities (markers in the history), a skipped occurrence still an activity task."""
    await pause_then_resume(r, "local_bookkeeping")


async def paused_at_start(r: Recorder) -> None:
    # Signal-with-start puts the pause in the first workflow task, before run() begins:
    # the case @workflow.init exists for (the pause must not be overwritten by the input).
    row = await r.reminder({"kind": "once", "at": (await r.now() + timedelta(hours=1)).isoformat()})
    handle = await r.start(row, start_signal="pause", start_signal_args=[SignalArgs(by="recorder")])
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 0)
    expect("deliveries", await r.deliveries(row), [("skipped", "paused")])
    await r.save("paused_at_start", handle.id)


async def trigger_now_while_sleeping(r: Recorder) -> None:
    row = await r.reminder({"kind": "once", "at": (await r.now() + timedelta(days=30)).isoformat()})
    handle = await r.start(row)
    await r.env.sleep(timedelta(minutes=1))
    await handle.signal(ReminderWorkflow.trigger_now, TriggerArgs(by="recorder"))
    await r.env.sleep(timedelta(seconds=5))
    expect("deliveries after the trigger", await r.deliveries(row), [DELIVERED])
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 2)
    await r.save("trigger_now_while_sleeping", handle.id)


async def rescheduled(r: Recorder) -> None:
    now = await r.now()
    row = await r.reminder({"kind": "once", "at": (now + timedelta(days=30)).isoformat()})
    handle = await r.start(row)
    await r.env.sleep(timedelta(minutes=1))
    near = validate_schedule({"kind": "once", "at": (now + timedelta(days=2)).isoformat()}, LONDON)
    await handle.signal(ReminderWorkflow.reschedule, RescheduleArgs(schedule=near, by="recorder"))
    result = await handle.result()
    expect("last occurrence", result.last_occurrence, near["at"].replace("+00:00", "Z"))
    expect("deliveries", await r.deliveries(row), [DELIVERED])
    await r.save("rescheduled", handle.id)


async def cancelled(r: Recorder) -> None:
    row = await r.reminder({"kind": "once", "at": (await r.now() + timedelta(days=1)).isoformat()})
    handle = await r.start(row)
    await r.env.sleep(timedelta(minutes=1))
    await handle.signal(ReminderWorkflow.cancel, SignalArgs(by="recorder"))
    result = await handle.result()
    expect("state", result.state, "cancelled")
    expect("deliveries", await r.deliveries(row), [])
    await r.save("cancelled", handle.id)


async def late_occurrence_missed(r: Recorder) -> None:
    # What a worker finds after a long outage: the occurrence is past the grace period.
    row = await r.reminder({"kind": "once", "at": (await r.now() - timedelta(hours=2)).isoformat()})
    handle = await r.start(row, grace_seconds=3600)
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 0)
    expect("deliveries", await r.deliveries(row), [("skipped", "missed")])
    await r.save("late_occurrence_missed", handle.id)


async def continue_as_new(r: Recorder) -> None:
    start = (await r.now() + timedelta(hours=1)).replace(minute=0, second=0)
    row = await r.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY", "start": start.isoformat(), "count": 3},
        timezone="UTC",
    )
    # An occurrence takes about 24 events: the first run fires two and continues as new,
    # the last fires the third with the state it was handed, and completes.
    handle = await r.start(row, history_limit=40)
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 3)
    expect("deliveries", await r.deliveries(row), [DELIVERED] * 3)
    # Without a run id: the latest run, the one that completed.
    last = await r.client.get_workflow_handle(handle.id).fetch_history()
    started = last.events[0].workflow_execution_started_event_attributes
    if not started.continued_execution_run_id:
        raise RuntimeError("the reminder never continued as new: lower history_limit")
    await r.save("continue_as_new_first_run", handle.id, handle.first_execution_run_id)
    await r.save("continue_as_new_last_run", handle.id)


async def held_for_send_window(r: Recorder) -> None:
    # An SMS due at 20:00 London with a 09:00-17:00 window waits for the next morning.
    await r.set_window(time(9, 0), time(17, 0))
    day = (await r.now() + timedelta(days=2)).date()
    at = datetime.combine(day, time(20, 0), tzinfo=ZoneInfo(LONDON))
    row = await r.reminder({"kind": "once", "at": at.isoformat()}, channels=["sms"])
    handle = await r.start(row)
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 1)
    expect("deliveries", await r.deliveries(row), [DELIVERED])
    await r.save("held_for_send_window", handle.id)


async def fallback_after_bounce(r: Recorder) -> None:
    # The email is refused for good (BouncingProvider); the reminder falls back to SMS.
    client = ClientRow(business_id=r.business_id, name="Cara", email=BOUNCES, phone="+447911123457")
    await r.add(client)
    row = await r.reminder(
        {"kind": "once", "at": (await r.now() + timedelta(hours=1)).isoformat()},
        client_ids=[str(client.id)],
        fallback=True,
    )
    handle = await r.start(row)
    await handle.result()
    expect("deliveries", await r.deliveries(row), [("failed", "smtp_550"), DELIVERED])
    await r.save("fallback_after_bounce", handle.id)


async def resend_after_failure(r: Recorder) -> None:
    # The first nudge bounces; the client gives a working address and the firm resends
    # that email (POST /notifications/{id}/resend) while the reminder waits for its due date.
    client = ClientRow(business_id=r.business_id, name="Dan", email=BOUNCES)
    await r.add(client)
    due = await r.now() + timedelta(days=10)
    row = await r.reminder(
        {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-P9D", "PT0S"]},
        client_ids=[str(client.id)],
    )
    handle = await r.start(row)
    await r.env.sleep(timedelta(days=2))  # past the -P9D nudge, before the due date
    (bounced,) = await deliveries_of(r, row)
    expect("the nudge", (bounced.status, bounced.error_code), ("failed", "smtp_550"))
    async with r.sessionmaker() as session:
        stored = await session.get(ClientRow, client.id)
        assert stored is not None
        stored.email = "dan@example.com"
        await session.commit()
    resend = ResendArgs(
        delivery_id=str(bounced.id),
        client_id=str(client.id),
        channel="email",
        request_id="recorded-resend-1",
        by="recorder",
    )
    await handle.signal(ReminderWorkflow.resend, resend)
    await r.env.sleep(timedelta(seconds=5))
    rows = await deliveries_of(r, row)
    expect(
        "deliveries after the resend", await r.deliveries(row), [("failed", "smtp_550"), DELIVERED]
    )
    expect(
        "linked",
        (rows[1].occurrence_key, rows[1].resend_of),
        ("resend-recorded-resend-1", bounced.id),
    )
    await handle.signal(ReminderWorkflow.complete, SignalArgs(by="recorder"))
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 1)
    await r.save("resend_after_failure", handle.id)


async def resend_after_completion(r: Recorder) -> None:
    # A once reminder's email bounces and the reminder completes. Later the client gives a
    # working address and the firm resends that email (POST /notifications/{id}/resend):
    # signal-with-start begins a run of its own, already completed, that sends and ends.
    client = ClientRow(business_id=r.business_id, name="Eve", email=BOUNCES)
    await r.add(client)
    row = await r.reminder(
        {"kind": "once", "at": (await r.now() + timedelta(hours=1)).isoformat()},
        client_ids=[str(client.id)],
    )
    await (await r.start(row)).result()
    (bounced,) = await deliveries_of(r, row)
    expect("the send", (bounced.status, bounced.error_code), ("failed", "smtp_550"))
    async with r.sessionmaker() as session:
        stored = await session.get(ClientRow, client.id)
        assert stored is not None
        stored.email = "eve@example.com"
        await session.commit()
    resend = ResendArgs(
        delivery_id=str(bounced.id),
        client_id=str(client.id),
        channel="email",
        request_id="recorded-resend-2",
        by="recorder",
    )
    completed = await r.stored(row)
    expect("the row before", completed.status, "completed")
    await resend_to_completed(r.client, placement(r.settings), completed, resend, now=await r.now())
    handle = r.client.get_workflow_handle_for(ReminderWorkflow.run, row.workflow_id)
    result = await handle.result()
    expect("the resend run", (result.state, result.occurrences_sent), ("completed", 1))
    expect("deliveries", await r.deliveries(row), [("failed", "smtp_550"), DELIVERED])
    resent = (await deliveries_of(r, row))[1]
    expect(
        "linked",
        (resent.occurrence_key, resent.resend_of),
        ("resend-recorded-resend-2", bounced.id),
    )
    expect("the row after", (await r.stored(row)).status, "completed")
    await r.save("resend_after_completion", handle.id)


async def sends_with_heartbeats(r: Recorder) -> None:
    """A once reminder on two channels since sends heartbeat (`send-heartbeat-v1`): each
    send is scheduled with a heartbeat timeout."""
    at = (await r.now() + timedelta(days=1)).isoformat()
    row = await r.reminder({"kind": "once", "at": at}, channels=("email", "sms"))
    handle = await r.start(row)
    expect("state", (await handle.result()).state, "completed")
    expect("deliveries", await r.deliveries(row), [DELIVERED, DELIVERED])
    history = await handle.fetch_history()
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name.startswith("send_")
    ]
    expect("heartbeat timeouts", {s.heartbeat_timeout.seconds for s in scheduled}, {10})
    await r.save("sends_with_heartbeats", handle.id)


async def client_done_and_escalated(r: Recorder) -> None:
    """Since `client-done-v1` and `escalation-v1`: a deadline series chases two clients;
    Bob is marked done after the first message and gets no more of the period; Cara never
    answers, is chased to the end and escalated after her second message."""
    cara = ClientRow(business_id=r.business_id, name="Cara", email="cara@example.com")
    await r.add(cara)
    due = (await r.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    row = await r.reminder(
        {
            "kind": "deadline_series",
            "rrule": "FREQ=MONTHLY",
            "start": due.isoformat(),
            "count": 1,
            "offsets": ["-P2D", "PT0S"],
            "chase_every": "P1D",
            "chase_until": "P2D",
        },
        timezone="UTC",
        client_ids=[str(r.client_id), str(cara.id)],
        escalate_after=2,
    )
    handle = await r.start(row)
    await r.env.sleep(timedelta(days=1, hours=12))  # past the first message
    expect("deliveries before done", await r.deliveries(row), [DELIVERED] * 2)
    period = due.strftime("%Y-%m-%dT%H:%M:%SZ")  # due is UTC
    await handle.signal(
        ReminderWorkflow.client_done,
        ClientDoneArgs(client_id=str(r.client_id), period=period, by="recorder"),
    )
    result = await handle.result()
    expect("occurrences sent", result.occurrences_sent, 4)
    rows = await deliveries_of(r, row)
    expect("Bob's", sum(d.client_id == r.client_id for d in rows), 1)
    expect("Cara's", sum(d.client_id == cara.id for d in rows), 4)
    await r.save("client_done_and_escalated", handle.id)


Scenario = Callable[[Recorder], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        once_fired,
        recurring_monthly_across_dst,
        deadline_completed_half_way,
        pause_then_resume,
        paused_at_start,
        trigger_now_while_sleeping,
        rescheduled,
        cancelled,
        late_occurrence_missed,
        continue_as_new,
        held_for_send_window,
        fallback_after_bounce,
        resend_after_failure,
        resend_after_completion,
        sends_with_heartbeats,
        local_bookkeeping,
        client_done_and_escalated,
    )
}


async def record(database_url: str, names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name in names:
        # A fresh server each: after a workflow completes, the test server may skip its
        # clock years ahead while a result is awaited, and the next scenario would start there.
        async with recorder(database_url) as r:
            log.info("recording %s", name)
            await SCENARIOS[name](r)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    unknown = [name for name in argv if name not in SCENARIOS]
    if unknown:
        log.error("unknown scenario(s) %s; known: %s", unknown, ", ".join(SCENARIOS))
        return 2
    with tempfile.TemporaryDirectory(prefix="record-histories-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/record.db"
        migrations.upgrade(url)  # before the event loop: Alembic's env runs its own
        asyncio.run(record(url, argv or list(SCENARIOS)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
