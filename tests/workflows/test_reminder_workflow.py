"""ReminderWorkflow on Temporal's time-skipping test server: months pass in milliseconds,
and every assertion is about what a client would notice: deliveries in the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from core.models import Business, Delivery, Reminder
from core.settings import Settings
from core.temporal import register_search_attributes
from tests.conftest import build_worker, venv_binary
from tests.seed import Seeded, add_reminder, deliveries_of, reminder_input, seeded_business
from workflows.contracts import ClientDoneArgs, ReminderStatus, RescheduleArgs
from workflows.reminder import ReminderWorkflow
from workflows.schedule import validate_schedule

LONDON = "Europe/London"


@dataclass
class World(Seeded):
    env: Any
    client: Client
    settings: Settings
    task_queue: str

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(UTC)

    async def reminder(
        self, schedule: dict[str, Any], timezone: str = LONDON, body: str | None = None, **kw: Any
    ) -> Reminder:
        body = body or "Hi {{ client.name }}, VAT is due {{ reminder.due_at | date }}."
        return await add_reminder(self, schedule, body=body, timezone=timezone, **kw)

    async def start(self, row: Reminder, **inputs: Any) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            ReminderWorkflow.run,
            reminder_input(row, **inputs),
            id=row.workflow_id,
            task_queue=self.task_queue,
        )

    async def deliveries(self, row: Reminder) -> list[Delivery]:
        return await deliveries_of(self, row)


@asynccontextmanager
async def _world(env: Any, settings: Settings, database_url: str) -> AsyncIterator[World]:
    async with seeded_business(database_url) as seed:
        task_queue = f"test-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, settings, task_queue, seed.sessionmaker):
            yield World(
                env=env,
                client=env.client,
                settings=settings,
                sessionmaker=seed.sessionmaker,
                task_queue=task_queue,
                business_id=seed.business_id,
                client_id=seed.client_id,
            )


@pytest.fixture
async def world(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[World]:
    async with _world(temporal_time_skipping, settings, database_url) as world:
        yield world


@pytest.fixture
async def world_of_today(settings: Settings, database_url: str) -> AsyncIterator[World]:
    """A world on a test server of its own, whose clock starts today: the shared server's
    may have run centuries on, past the years the holidays package knows (to 2100)."""
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    try:
        await register_search_attributes(env.client)
        async with _world(env, settings, database_url) as world:
            yield world
    finally:
        await env.shutdown()


async def test_monthly_reminder_fires_at_nine_local_all_year_across_dst(world: World) -> None:
    # The test server's clock, not the wall clock: earlier tests may have moved it on.
    year = (await world.now()).year + 1
    row = await world.reminder(
        {
            "kind": "recurring",
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0",
            "start": f"{year}-01-01T00:00:00+00:00",
            "count": 12,
        }
    )
    handle = await world.start(row)
    result: ReminderStatus = await handle.result()

    assert result.state == "completed"
    assert result.occurrences_sent == 12
    deliveries = await world.deliveries(row)
    assert [d.status for d in deliveries] == ["delivered"] * 12
    local = [d.scheduled_for.astimezone(ZoneInfo(LONDON)) for d in deliveries]
    assert [(t.month, t.day, t.hour, t.minute) for t in local] == [
        (month, 15, 9, 0) for month in range(1, 13)
    ]
    # 09:00 London is 09:00 UTC in winter and 08:00 UTC in summer.
    assert {d.scheduled_for.hour for d in deliveries} == {8, 9}
    assert "Hi Bob Builder" in (deliveries[0].body or "")


async def test_a_recurring_reminder_skips_its_excluded_days(world: World) -> None:
    year = (await world.now()).year + 1
    schedule = validate_schedule(
        {
            "kind": "recurring",
            "rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
            "start": f"{year}-12-23T00:00:00+00:00",
            "count": 5,
            "exdates": [f"{year}-12-25", f"{year}-12-26"],
        },
        LONDON,
    )
    row = await world.reminder(schedule)
    result: ReminderStatus = await (await world.start(row)).result()

    # Five days counted by the rule, two of them excluded: three messages, none at Christmas.
    assert (result.state, result.occurrences_sent) == ("completed", 3)
    sent = [d.scheduled_for.astimezone(ZoneInfo(LONDON)) for d in await world.deliveries(row)]
    assert [(t.day, t.hour) for t in sent] == [(23, 9), (24, 9), (27, 9)]


def _thanksgiving(year: int) -> date:
    """The fourth Thursday of November (worked out here, not by the holidays package)."""
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


async def test_a_deadline_on_a_holiday_goes_out_the_business_day_before_in_its_country(
    world_of_today: World,
) -> None:
    world = world_of_today
    year = (await world.now()).year + 1
    due = _thanksgiving(year)  # a US public holiday, not an English one
    rows = {}
    for country, zone, offset in (("US", "America/New_York", "-05:00"), ("GB", LONDON, "Z")):
        schedule = validate_schedule(
            {
                "kind": "deadline",
                "due_at": f"{due.isoformat()}T14:00:00{offset}",
                "offsets": ["PT0S"],
                "business_days": {"country": country},
            },
            zone,
        )
        rows[country] = (await world.reminder(schedule, timezone=zone), zone)
    # Both run at once: the test server's clock only moves on while they wait.
    handles = [await world.start(row) for row, _ in rows.values()]
    for handle in handles:
        await handle.result()
    sent = {}
    for country, (row, zone) in rows.items():
        [delivery] = await world.deliveries(row)
        assert delivery.status == "delivered"
        sent[country] = delivery.scheduled_for.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    assert sent["US"] == datetime.combine(due - timedelta(days=1), time(14))
    assert sent["GB"] == datetime.combine(due, time(14))


async def test_deadline_completed_half_way_sends_no_more(world: World) -> None:
    now = await world.now()
    due = (now + timedelta(days=10)).replace(microsecond=0)
    row = await world.reminder(
        {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-P7D", "-P1D", "PT0S"]}
    )
    handle = await world.start(row)
    await world.env.sleep(timedelta(days=5))  # past the -P7D nudge, before -P1D
    assert [d.status for d in await world.deliveries(row)] == ["delivered"]
    assert "VAT is due" in ((await world.deliveries(row))[0].body or "")

    await handle.signal(ReminderWorkflow.complete)
    result: ReminderStatus = await handle.result()
    assert result.state == "completed"
    await world.env.sleep(timedelta(days=10))
    assert len(await world.deliveries(row)) == 1


async def test_paused_reminder_skips_occurrences_and_resumes_without_a_burst(
    world: World,
) -> None:
    now = await world.now()
    start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    row = await world.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY", "start": start.isoformat(), "count": 5},
        timezone="UTC",
    )
    handle = await world.start(row)
    await handle.signal(ReminderWorkflow.pause)
    await world.env.sleep(timedelta(days=1, hours=2))  # two occurrences come due while paused
    paused = await world.deliveries(row)
    assert [d.status for d in paused] == ["skipped", "skipped"]
    assert all(d.error_code == "paused" for d in paused)
    assert (await handle.query(ReminderWorkflow.status)).state == "paused"

    await handle.signal(ReminderWorkflow.resume)
    result: ReminderStatus = await handle.result()
    statuses = [d.status for d in await world.deliveries(row)]
    # The skipped ones stay skipped; only the three later occurrences are sent.
    assert statuses == ["skipped", "skipped", "delivered", "delivered", "delivered"]
    assert result.occurrences_sent == 3


async def test_trigger_while_sleeping_sends_now_and_keeps_the_schedule(world: World) -> None:
    now = await world.now()
    at = (now + timedelta(days=30)).replace(microsecond=0)
    row = await world.reminder({"kind": "once", "at": at.isoformat()})
    handle = await world.start(row)
    before: ReminderStatus = await handle.query(ReminderWorkflow.status)

    await handle.signal(ReminderWorkflow.trigger_now)
    await world.env.sleep(timedelta(seconds=5))
    deliveries = await world.deliveries(row)
    assert len(deliveries) == 1
    assert deliveries[0].occurrence_key.startswith("manual-")
    assert deliveries[0].status == "delivered"
    after: ReminderStatus = await handle.query(ReminderWorkflow.status)
    assert after.next_fire_at == before.next_fire_at == at.isoformat()

    await handle.result()
    assert [d.occurrence_key for d in await world.deliveries(row)][1] == at.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


async def test_reschedule_moves_the_next_occurrence(world: World) -> None:
    now = await world.now()
    far = (now + timedelta(days=30)).replace(microsecond=0)
    near = (now + timedelta(days=2)).replace(microsecond=0)
    row = await world.reminder({"kind": "once", "at": far.isoformat()})
    handle = await world.start(row)
    new_schedule = validate_schedule({"kind": "once", "at": near.isoformat()}, LONDON)
    await handle.signal(ReminderWorkflow.reschedule, RescheduleArgs(schedule=new_schedule))
    await world.env.sleep(timedelta(days=3))

    deliveries = await world.deliveries(row)
    assert [d.scheduled_for for d in deliveries] == [near]
    result: ReminderStatus = await handle.result()
    assert result.state == "completed"


async def test_cancelled_reminder_never_fires(world: World) -> None:
    now = await world.now()
    row = await world.reminder({"kind": "once", "at": (now + timedelta(days=1)).isoformat()})
    handle = await world.start(row)
    await handle.signal(ReminderWorkflow.cancel)
    result: ReminderStatus = await handle.result()
    assert result.state == "cancelled"
    await world.env.sleep(timedelta(days=2))
    assert await world.deliveries(row) == []
    async with world.sessionmaker() as session:
        stored = await session.get(Reminder, row.id)
        assert stored is not None
        assert stored.status == "cancelled"
        assert stored.next_fire_at is None


async def test_late_occurrence_beyond_grace_is_missed_within_grace_is_sent(
    world: World,
) -> None:
    # What a worker sees when it comes back after an outage: occurrences already past due.
    now = await world.now()
    two_hours_ago = (now - timedelta(hours=2)).replace(microsecond=0)
    half_hour_ago = (now - timedelta(minutes=30)).replace(microsecond=0)
    row_missed = await world.reminder({"kind": "once", "at": two_hours_ago.isoformat()})
    row_late_ok = await world.reminder({"kind": "once", "at": half_hour_ago.isoformat()})

    missed = await world.start(row_missed, grace_seconds=3600)
    late_ok = await world.start(row_late_ok, grace_seconds=3600)
    assert (await missed.result()).occurrences_sent == 0
    assert (await late_ok.result()).occurrences_sent == 1

    [skipped] = await world.deliveries(row_missed)
    assert (skipped.status, skipped.error_code) == ("skipped", "missed")
    assert skipped.body is None  # nothing was rendered or sent
    [sent] = await world.deliveries(row_late_ok)
    assert sent.status == "delivered"


async def test_hundreds_of_occurrences_continue_as_new_and_keep_state(world: World) -> None:
    now = await world.now()
    start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    row = await world.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY", "start": start.isoformat(), "count": 300},
        timezone="UTC",
    )
    handle = await world.start(row, history_limit=300)
    first_run = handle.first_execution_run_id or handle.result_run_id
    result: ReminderStatus = await handle.result()

    assert result.state == "completed"
    assert result.occurrences_sent == 300
    deliveries = await world.deliveries(row)
    assert len(deliveries) == 300
    assert len({d.occurrence_key for d in deliveries}) == 300
    history = await world.client.get_workflow_handle(
        row.workflow_id, run_id=first_run
    ).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def test_pause_sent_before_any_worker_ran_is_kept(world: World, settings: Settings) -> None:
    now = await world.now()
    row = await world.reminder({"kind": "once", "at": (now + timedelta(hours=1)).isoformat()})
    idle_queue = f"idle-{uuid.uuid4().hex[:8]}"
    world.task_queue = idle_queue  # nobody polls yet: the signal lands before the first task
    handle = await world.start(row)
    await handle.signal(ReminderWorkflow.pause)

    async with build_worker(world.client, settings, idle_queue, world.sessionmaker):
        status: ReminderStatus = await handle.query(ReminderWorkflow.status)
        assert status.state == "paused"
        await world.env.sleep(timedelta(hours=2))
        [skipped] = await world.deliveries(row)
        assert (skipped.status, skipped.error_code) == ("skipped", "paused")
        assert (await handle.result()).occurrences_sent == 0


async def test_an_sms_held_for_the_send_window_is_not_sent_once_the_client_is_done(
    world: World,
) -> None:
    async with world.sessionmaker() as session:
        business = await session.get(Business, world.business_id)
        assert business is not None
        business.send_window_start, business.send_window_end = time(9), time(17)
        await session.commit()
    day = (await world.now() + timedelta(days=2)).date()
    due = datetime.combine(day, time(20), tzinfo=ZoneInfo(LONDON))  # after the window
    row = await world.reminder(
        {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["PT0S"]}, channels=["sms"]
    )
    handle = await world.start(row)
    await world.env.sleep(due - await world.now() + timedelta(hours=1))  # held till morning
    [held] = await world.deliveries(row)
    assert (held.status, held.deferred_until is not None) == ("pending", True)

    period = due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await handle.signal(
        ReminderWorkflow.client_done, ClientDoneArgs(client_id=str(world.client_id), period=period)
    )
    await handle.result()
    [skipped] = await world.deliveries(row)
    assert (skipped.status, skipped.error_code) == ("skipped", "done")
    assert skipped.error_message == (
        "held for the send window, and the client was marked done before it opened"
    )
