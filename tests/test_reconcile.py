"""`reconcile`: every active reminder row ends up with a running workflow, or says how its
workflow ended. Runs against the real Temporal dev server and the test database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from core.models import AppEvent, Reminder, User
from core.security import hash_password
from core.settings import Settings
from core.types import utcnow
from ops.reconcile import TemporalUnavailable, cursor_for, reconcile
from tests.builders.rows import add_business_to, add_reminder_to, start_directly
from tests.conftest import PASSWORD, Tenant, build_worker, eventually
from workflows import search_attributes as sa
from workflows.contracts import ReminderInput, workflow_id_for
from workflows.reminder import ReminderWorkflow


@pytest.fixture
def queue_settings(settings: Settings) -> Settings:
    """The test settings with a task queue of this test's own, so no other test's worker
    runs the workflows started here."""
    return settings.model_copy(update={"TEMPORAL_TASK_QUEUE": f"reconcile-{uuid.uuid4().hex}"})


async def add_business(app: Any) -> uuid.UUID:
    return await add_business_to(app.state.sessionmaker)


async def add_reminder(
    app: Any, business_id: uuid.UUID, status: str = "scheduled", **values: Any
) -> str:
    return await add_reminder_to(app.state.sessionmaker, business_id, status, **values)


async def load(app: Any, reminder_id: str) -> Reminder:
    async with app.state.sessionmaker() as session:
        reminder = await session.get(Reminder, uuid.UUID(reminder_id))
        assert reminder is not None
        return reminder


async def set_status(app: Any, reminder_id: str, status: str) -> None:
    """Drift on purpose: the row claims a state its workflow no longer has."""
    async with app.state.sessionmaker() as session:
        reminder = await session.get(Reminder, uuid.UUID(reminder_id))
        assert reminder is not None
        reminder.status = status
        await session.commit()


async def started_input(client: Client, reminder_id: str) -> ReminderInput:
    history = await client.get_workflow_handle(workflow_id_for(reminder_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [data] = await client.data_converter.decode(started.input.payloads, [ReminderInput])
    assert isinstance(data, ReminderInput)
    return data


async def sleeping(handle: WorkflowHandle[Any, Any]) -> bool:
    """The workflow has published its first state and waits for its occurrence."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return True
    return False


async def run(app: Any, client: Any, settings: Settings, **kwargs: Any) -> Any:
    return await reconcile(app.state.sessionmaker, client, settings, **kwargs)


# -- what reconcile repairs --------------------------------------------------------------


async def test_missing_workflow_is_started_and_left_alone_next_time(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id)

    report = await run(app, client, queue_settings)

    assert report.checked == 1
    assert report.started == [reminder_id]
    assert (report.ok, report.marked, report.errors) == (0, [], [])
    description = await client.get_workflow_handle(workflow_id_for(reminder_id)).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.workflow_type == "ReminderWorkflow"
    assert description.task_queue == queue_settings.TEMPORAL_TASK_QUEUE
    attributes = description.typed_search_attributes
    assert attributes.get(sa.BUSINESS_ID) == str(business_id)
    assert attributes.get(sa.REMINDER_TYPE) == "deadline"
    assert attributes.get(sa.REMINDER_STATE) == "scheduled"

    again = await run(app, client, queue_settings)

    assert (again.checked, again.ok, again.started, again.marked) == (1, 1, [], [])
    await client.get_workflow_handle(workflow_id_for(reminder_id)).terminate()


async def test_restarted_workflow_resumes_after_the_grace_window_or_the_last_firing(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    client = temporal_dev.client
    now = utcnow().replace(microsecond=0)
    grace = timedelta(seconds=queue_settings.LATE_GRACE_PERIOD_SECONDS)
    business_id = await add_business(app)
    never_fired = await add_reminder(app, business_id, status="paused")
    fired_recently = await add_reminder(
        app, business_id, last_fired_at=now - timedelta(minutes=5), occurrences_sent=3
    )
    fired_long_ago = await add_reminder(app, business_id, last_fired_at=now - 2 * grace)

    report = await run(app, client, queue_settings, now=now)

    assert sorted(report.started) == sorted([never_fired, fired_recently, fired_long_ago])
    paused = await started_input(client, never_fired)
    assert paused.state == "paused"
    assert paused.cursor == (now - grace).isoformat()
    assert paused.grace_seconds == queue_settings.LATE_GRACE_PERIOD_SECONDS
    recent = await started_input(client, fired_recently)
    assert recent.cursor == (now - timedelta(minutes=5)).isoformat()
    assert recent.occurrences_sent == 3  # the workflow's first sync keeps the row's count
    old = await started_input(client, fired_long_ago)
    assert old.cursor == (now - grace).isoformat()
    for reminder_id in report.started:
        await client.get_workflow_handle(workflow_id_for(reminder_id)).terminate()


def test_cursor_is_the_later_of_the_last_firing_and_the_grace_window() -> None:
    now = utcnow()

    assert cursor_for(None, now, 600) == now - timedelta(seconds=600)
    assert cursor_for(now - timedelta(seconds=60), now, 600) == now - timedelta(seconds=60)
    assert cursor_for(now - timedelta(days=2), now, 600) == now - timedelta(seconds=600)


@pytest.mark.parametrize("status", ["scheduled", "paused"])
async def test_terminated_workflow_marks_its_reminder_failed(
    app: Any, temporal_dev: Any, queue_settings: Settings, status: str
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id, status=status)
    handle = await start_directly(client, queue_settings, reminder_id, business_id)
    await handle.terminate(reason="operator")

    report = await run(app, client, queue_settings)

    assert report.checked == 1
    assert [m.as_dict() for m in report.marked] == [
        {"reminder_id": reminder_id, "from": status, "to": "failed"}
    ]
    assert report.started == []
    row = await load(app, reminder_id)
    assert row.status == "failed"
    assert row.next_fire_at is None
    again = await run(app, client, queue_settings)
    assert again.checked == 0  # an ended row is never looked at again


async def test_completed_workflow_marks_its_reminder_completed(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    past = utcnow() - timedelta(days=2)
    reminder_id = await add_reminder(
        app, business_id, schedule={"kind": "once", "at": past.isoformat()}
    )
    async with build_worker(
        client, queue_settings, queue_settings.TEMPORAL_TASK_QUEUE, app.state.sessionmaker
    ):
        # Its only occurrence is behind the cursor: the workflow has nothing left and ends.
        handle = await start_directly(
            client,
            queue_settings,
            reminder_id,
            business_id,
            schedule={"kind": "once", "at": past.isoformat()},
            cursor=utcnow().isoformat(),
        )
        await handle.result()
    await set_status(app, reminder_id, "scheduled")  # as if the final sync never landed

    report = await run(app, client, queue_settings)

    assert [m.as_dict() for m in report.marked] == [
        {"reminder_id": reminder_id, "from": "scheduled", "to": "completed"}
    ]
    row = await load(app, reminder_id)
    assert (row.status, row.next_fire_at) == ("completed", None)


async def test_workflow_that_ended_by_cancel_signal_marks_its_reminder_cancelled(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id)
    async with build_worker(
        client, queue_settings, queue_settings.TEMPORAL_TASK_QUEUE, app.state.sessionmaker
    ):
        handle = await start_directly(client, queue_settings, reminder_id, business_id)
        await eventually(lambda: sleeping(handle))
        await handle.signal(ReminderWorkflow.cancel)
        await handle.result()
    await set_status(app, reminder_id, "paused")

    report = await run(app, client, queue_settings)

    assert [m.as_dict() for m in report.marked] == [
        {"reminder_id": reminder_id, "from": "paused", "to": "cancelled"}
    ]
    assert (await load(app, reminder_id)).status == "cancelled"


@pytest.mark.parametrize("status", ["cancelled", "completed", "failed"])
async def test_ended_reminder_is_not_touched(
    app: Any, temporal_dev: Any, queue_settings: Settings, status: str
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id, status=status)

    report = await run(app, client, queue_settings)

    assert (report.checked, report.started, report.marked) == (0, [], [])
    assert (await load(app, reminder_id)).status == status
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(workflow_id_for(reminder_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_reminder_created_a_moment_ago_is_left_to_the_api(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    business_id = await add_business(app)
    await add_reminder(app, business_id, created_at=utcnow())

    report = await run(app, temporal_dev.client, queue_settings)

    assert report.checked == 0


async def test_runs_in_batches_over_every_active_row(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    client = temporal_dev.client
    business_id = await add_business(app)
    ids = [await add_reminder(app, business_id) for _ in range(5)]
    await add_reminder(app, business_id, status="cancelled")

    report = await run(app, client, queue_settings, batch_size=2)

    assert report.checked == 5
    assert sorted(report.started) == sorted(ids)
    for reminder_id in ids:
        await client.get_workflow_handle(workflow_id_for(reminder_id)).terminate()


# -- failures ------------------------------------------------------------------------------


class _FailingHandle:
    def __init__(self, status: RPCStatusCode) -> None:
        self.status = status

    async def describe(self) -> Any:
        raise RPCError("boom", self.status, b"")


class _FlakyClient:
    """The real client, except that describing `failing` answers an RPC error."""

    def __init__(self, client: Client, failing: str, status: RPCStatusCode) -> None:
        self._client = client
        self._failing = workflow_id_for(failing)
        self._status = status

    def get_workflow_handle(self, workflow_id: str) -> Any:
        if workflow_id == self._failing:
            return _FailingHandle(self._status)
        return self._client.get_workflow_handle(workflow_id)

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        return await self._client.start_workflow(*args, **kwargs)


async def test_an_error_on_one_row_is_reported_and_the_others_still_run(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    business_id = await add_business(app)
    broken = await add_reminder(app, business_id)
    fine = await add_reminder(app, business_id)
    client = _FlakyClient(temporal_dev.client, broken, RPCStatusCode.INTERNAL)

    report = await run(app, client, queue_settings)

    assert report.checked == 2
    assert report.started == [fine]
    assert [e.reminder_id for e in report.errors] == [broken]
    assert "boom" in report.errors[0].error
    assert (await load(app, broken)).status == "scheduled"
    await temporal_dev.client.get_workflow_handle(workflow_id_for(fine)).terminate()


async def test_temporal_going_away_stops_the_run(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id)
    client = _FlakyClient(temporal_dev.client, reminder_id, RPCStatusCode.UNAVAILABLE)

    with pytest.raises(TemporalUnavailable):
        await run(app, client, queue_settings)


async def test_each_run_records_an_app_event_with_the_counts(
    app: Any, temporal_dev: Any, queue_settings: Settings
) -> None:
    business_id = await add_business(app)
    reminder_id = await add_reminder(app, business_id)

    await run(app, temporal_dev.client, queue_settings)

    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(select(AppEvent).where(AppEvent.action == "reconcile.run"))
        ).all()
    assert len(events) == 1
    assert events[0].payload == {
        "source": "cli",
        "checked": 1,
        "ok": 0,
        "started": 1,
        "marked": 0,
        "errors": 0,
    }
    await temporal_dev.client.get_workflow_handle(workflow_id_for(reminder_id)).terminate()


# -- POST /api/v1/admin/reconcile ------------------------------------------------------------


async def superuser_headers(app: Any, client: httpx.AsyncClient) -> dict[str, str]:
    email = f"root-{uuid.uuid4().hex[:8]}@example.com"
    async with app.state.sessionmaker() as session:
        session.add(
            User(
                email=email,
                hashed_password=hash_password(PASSWORD),
                full_name="Root",
                is_superuser=True,
            )
        )
        await session.commit()
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
async def temporal_app(app: Any, temporal_dev: Any) -> AsyncIterator[Any]:
    """The app talking to the dev server (no worker: reconcile needs none)."""
    app.state.temporal.set_client(temporal_dev.client)
    yield app
    app.state.temporal._client = None


async def test_admin_reconcile_answers_superusers_with_the_report(
    temporal_app: Any, client: httpx.AsyncClient, temporal_dev: Any
) -> None:
    business_id = await add_business(temporal_app)
    reminder_id = await add_reminder(temporal_app, business_id)
    handle = await start_directly(
        temporal_dev.client, temporal_app.state.settings, reminder_id, business_id
    )
    await handle.terminate()
    headers = await superuser_headers(temporal_app, client)

    response = await client.post("/api/v1/admin/reconcile", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "checked": 1,
        "ok": 0,
        "started": [],
        "marked": [{"reminder_id": reminder_id, "from": "scheduled", "to": "failed"}],
        "errors": [],
    }
    async with temporal_app.state.sessionmaker() as session:
        event = (
            await session.scalars(select(AppEvent).where(AppEvent.action == "reconcile.run"))
        ).one()
    assert event.payload["source"] == "api"
    assert event.actor_user_id is not None


async def test_admin_reconcile_refuses_business_owners_and_anonymous_callers(
    temporal_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    business_id = await add_business(temporal_app)
    reminder_id = await add_reminder(temporal_app, business_id)

    as_owner = await client.post("/api/v1/admin/reconcile", headers=owner.headers)
    anonymous = await client.post("/api/v1/admin/reconcile")

    assert as_owner.status_code == 403
    assert anonymous.status_code == 401
    assert as_owner.json()["detail"] == "Superusers only"
    assert anonymous.json()["detail"] == "Not authenticated"
    with pytest.raises(RPCError):  # nothing was started
        await temporal_dev.client.get_workflow_handle(workflow_id_for(reminder_id)).describe()


async def test_admin_reconcile_is_503_when_temporal_is_unreachable(
    app: Any, client: httpx.AsyncClient
) -> None:
    # The test settings point Temporal at a port where nothing listens.
    headers = await superuser_headers(app, client)

    response = await client.post("/api/v1/admin/reconcile", headers=headers)

    assert response.status_code == 503
    assert "Temporal is unreachable" in response.json()["detail"]
