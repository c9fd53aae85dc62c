"""The reminders API against a real Temporal dev server with a worker running the real
workflow and activities (sandbox providers): what a caller sees happen, end to end."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from api.reminders import service
from api.reminders.view import QUERY_TIMEOUT
from core.temporal import TemporalConnector
from tests.builders.api import (
    REMINDERS_URL,
    add_client,
    create_reminder,
    get_reminder,
    once,
    reminder_body,
    reminder_deliveries,
    settled,
    wait_for_delivery,
    wait_for_status,
)
from tests.conftest import Tenant, count_rows, eventually

# -- the life of a reminder ------------------------------------------------------------------


async def test_once_reminder_is_delivered_with_the_rendered_body(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner, "Alice Jones", timezone="Europe/Paris")
    body = reminder_body(client_id, schedule=once(2))
    body.pop("channels")
    created = await create_reminder(client, owner, body)

    assert created["status"] == "scheduled"
    assert created["workflow_id"] == f"reminder-{created['id']}"
    assert created["timezone"] == "Europe/Paris"  # the single client's zone by default
    assert created["client_ids"] == [client_id]
    assert created["channels"] == []
    assert created["occurrences_sent"] == 0
    assert created["last_fired_at"] is None
    assert datetime.fromisoformat(created["next_fire_at"]) > datetime.now(UTC)
    for field in ("title", "type", "body", "tag", "template_id", "subject", "created_at"):
        assert field in created

    delivery = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert delivery["body"] == "Hi Alice Jones, your VAT return is due."
    assert delivery["channel"] == "email"
    assert delivery["client_id"] == client_id
    assert delivery["reminder_id"] == created["id"]
    assert delivery["occurrence_key"].endswith("Z")
    assert delivery["provider_message_id"].startswith("sandbox-")
    assert delivery["attempts"] == 1
    for field in ("error_code", "error_message", "scheduled_for", "sent_at", "delivered_at"):
        assert field in delivery

    # A once reminder has nothing left after its occurrence: the workflow completes.
    final = await wait_for_status(client, owner, created["id"], "completed")
    assert final["occurrences_sent"] == 1
    assert final["next_fire_at"] is None
    assert final["last_fired_at"] is not None


async def test_trigger_sends_now_outside_the_schedule(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner, "Bob Smith")
    created = await create_reminder(client, owner, reminder_body(client_id))

    response = await client.post(f"{REMINDERS_URL}/{created['id']}/trigger", headers=owner.headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["accepted"] is True
    assert accepted["occurrence_key"].startswith("manual-")

    delivery = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert delivery["occurrence_key"] == accepted["occurrence_key"]
    assert delivery["body"] == "Hi Bob Smith, your VAT return is due."

    # The scheduled occurrence is still ahead, and GET reads it from the workflow.
    view = await wait_for_status(client, owner, created["id"], "scheduled")
    assert view["live"] is True

    async def counted() -> bool:
        return bool((await get_reminder(client, owner, created["id"]))["occurrences_sent"] == 1)

    await eventually(counted, timeout=10, interval=0.2)


async def test_pause_skips_an_occurrence_but_a_manual_send_still_goes_out_and_resume_continues(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner, "Carol")
    due = datetime.now(UTC) + timedelta(seconds=5)
    schedule = {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-PT3S", "PT0S"]}
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=schedule))
    url = f"{REMINDERS_URL}/{created['id']}"
    await settled(temporal_dev, created)

    paused = await client.post(f"{url}/pause", headers=owner.headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    again = await client.post(f"{url}/pause", headers=owner.headers)
    assert again.status_code == 409
    assert "paused" in again.json()["detail"]

    trigger = await client.post(f"{url}/trigger", headers=owner.headers)
    assert trigger.status_code == 202, trigger.text
    manual = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert manual["occurrence_key"] == trigger.json()["occurrence_key"]

    # The first offset falls due while paused: recorded as skipped, nothing sent.
    skipped = await wait_for_delivery(client, owner, created["id"], "skipped")
    assert skipped["error_code"] == "paused"
    assert skipped["sent_at"] is None

    await settled(temporal_dev, created)
    resumed = await client.post(f"{url}/resume", headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "scheduled"
    assert (await client.post(f"{url}/resume", headers=owner.headers)).status_code == 409

    async def due_time_delivered() -> bool:
        rows = await reminder_deliveries(client, owner, created["id"])
        return any(
            d["status"] == "delivered" and not d["occurrence_key"].startswith("manual-")
            for d in rows
        )

    await eventually(due_time_delivered, timeout=15, interval=0.2)
    rows = await reminder_deliveries(client, owner, created["id"])
    assert sorted(d["status"] for d in rows) == ["delivered", "delivered", "skipped"]
    assert not any(
        d["status"] == "delivered" and d["occurrence_key"] == skipped["occurrence_key"]
        for d in rows
    )
    await wait_for_status(client, owner, created["id"], "completed")


async def test_complete_stops_further_occurrences(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=once(2)))
    url = f"{REMINDERS_URL}/{created['id']}"
    await settled(temporal_dev, created)

    response = await client.post(f"{url}/complete", headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert response.json()["next_fire_at"] is None

    await asyncio.sleep(3)  # past the due time
    assert await reminder_deliveries(client, owner, created["id"]) == []
    view = await get_reminder(client, owner, created["id"])
    assert view["status"] == "completed"
    assert view["occurrences_sent"] == 0
    for action in ("complete", "pause", "resume", "trigger"):
        refused = await client.post(f"{url}/{action}", headers=owner.headers)
        assert refused.status_code == 409, (action, refused.text)
    assert (await client.patch(url, headers=owner.headers, json={"title": "x"})).status_code == 409


async def test_delete_cancels_the_workflow_and_keeps_the_row(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    url = f"{REMINDERS_URL}/{created['id']}"
    await settled(temporal_dev, created)

    response = await client.delete(url, headers=owner.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""

    view = await get_reminder(client, owner, created["id"])
    assert view["status"] == "cancelled"
    assert view["next_fire_at"] is None
    listed = await client.get(REMINDERS_URL, headers=owner.headers, params={"status": "cancelled"})
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    handle = temporal_dev.client.get_workflow_handle(created["workflow_id"])

    async def closed() -> bool:
        description = await handle.describe()
        return bool(description.status == WorkflowExecutionStatus.COMPLETED)

    await eventually(closed, timeout=10, interval=0.2)
    assert (await client.post(f"{url}/trigger", headers=owner.headers)).status_code == 409
    # Deleting again changes nothing and is not an error.
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    signals = (
        "app_events WHERE action = 'reminder.signal' AND CAST(payload AS TEXT) LIKE '%cancel%'"
    )
    assert await count_rows(live_app, signals) == 1


async def test_patch_schedule_reschedules_and_content_changes_apply_at_send_time(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner, "Dana")
    created = await create_reminder(client, owner, reminder_body(client_id))
    url = f"{REMINDERS_URL}/{created['id']}"
    await settled(temporal_dev, created)

    response = await client.patch(
        url,
        headers=owner.headers,
        json={
            "schedule": once(2),
            "title": "Payroll",
            "body": "{{ reminder.title }} for {{ client.name }}",
        },
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["title"] == "Payroll"
    assert changed["next_fire_at"] != created["next_fire_at"]
    assert datetime.fromisoformat(changed["next_fire_at"]) < datetime.now(UTC) + timedelta(
        seconds=5
    )

    delivery = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert delivery["body"] == "Payroll for Dana"
    assert delivery["occurrence_key"] == datetime.fromisoformat(changed["next_fire_at"]).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


async def test_patch_refuses_bad_changes_and_keeps_the_row(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    foreign = await add_client(client, other_owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    url = f"{REMINDERS_URL}/{created['id']}"
    for change in (
        {"schedule": {"kind": "once", "at": "2020-01-01T00:00:00+00:00"}},
        {"schedule": {"kind": "weekly"}},
        {"timezone": "Mars/Olympus"},
        {"client_ids": [foreign]},
        {"client_ids": [client_id], "tag": "vat"},
        {"body": "{% if %}"},
        {"body": None},
        {"title": None},
        {"channels": ["fax"]},
        {"workflow_id": "reminder-x"},
    ):
        response = await client.patch(url, headers=owner.headers, json=change)
        assert response.status_code == 422, (change, response.text)
    assert await get_reminder(client, owner, created["id"]) == {
        **created,
        "live": True,
        "last_occurrence": None,
    }

    switched = await client.patch(url, headers=owner.headers, json={"tag": " VAT "})
    assert switched.status_code == 200, switched.text
    assert switched.json()["tag"] == "vat"
    assert switched.json()["client_ids"] == []


async def test_a_recurring_reminder_keeps_its_excluded_days_as_given(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    schedule = {
        "kind": "recurring",
        "rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=20,25;BYHOUR=9",
        "start": "2030-01-01T00:00:00Z",
        "exdates": ["2030-12-25", "2030-12-20T09:00:00+00:00"],
    }
    created = await create_reminder(
        client, owner, {**reminder_body(client_id), "schedule": schedule, "timezone": "UTC"}
    )
    assert created["schedule"]["exdates"] == ["2030-12-25", "2030-12-20T09:00:00+00:00"]
    # Both 2030 dates are excluded: the first message is the next year's.
    assert created["next_fire_at"].startswith("2031-12-20T09:00:00")


async def test_a_deadline_on_a_bank_holiday_is_moved_to_the_business_day_before(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    schedule = {
        "kind": "deadline",
        "due_at": "2030-12-25T09:00:00Z",  # Christmas Day, a Wednesday
        "offsets": ["PT0S"],
        "business_days": {"country": "GB", "subdivision": "ENG"},
    }
    created = await create_reminder(
        client, owner, {**reminder_body(client_id), "schedule": schedule, "timezone": "UTC"}
    )
    assert created["next_fire_at"].startswith("2030-12-24T09:00:00")
    stored = created["schedule"]["business_days"]
    assert (stored["country"], stored["move"]) == ("GB", "previous")
    assert "2030-12-25" in stored["holidays"]


async def test_business_days_without_a_country_take_the_business_country(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    schedule = {
        "kind": "deadline",
        "due_at": "2030-11-28T14:00:00-05:00",  # Thanksgiving Day in the US
        "offsets": ["PT0S"],
        "business_days": {"move": "previous"},
    }
    body = {**reminder_body(client_id), "schedule": schedule, "timezone": "America/New_York"}
    refused = await client.post(REMINDERS_URL, headers=owner.headers, json=body)
    assert refused.status_code == 422
    assert "schedule.business_days.country" in refused.json()["detail"]
    assert await count_rows(live_app, "reminders") == 0

    patched = await client.patch("/api/v1/business", headers=owner.headers, json={"country": "US"})
    assert patched.status_code == 200, patched.text
    created = await create_reminder(client, owner, body)
    assert created["schedule"]["business_days"]["country"] == "US"
    assert created["next_fire_at"].startswith("2030-11-27T19:00:00")


async def test_idempotent_post_returns_the_first_reminder(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    body = reminder_body(client_id)
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await create_reminder(client, owner, body, **key)
    second = await create_reminder(client, owner, body, **key)
    assert second["id"] == first["id"]
    assert await count_rows(live_app, "reminders") == 1
    assert await count_rows(live_app, "app_events WHERE action = 'reminder.created'") == 1

    different = await client.post(
        REMINDERS_URL, headers={**owner.headers, **key}, json={**body, "title": "Something else"}
    )
    assert different.status_code == 422
    assert "Idempotency-Key" in different.json()["detail"]
    other_key = await create_reminder(
        client, owner, body, **{"Idempotency-Key": f"key-{uuid.uuid4()}"}
    )
    assert other_key["id"] != first["id"]


async def test_list_filters_by_status_type_client_and_tag_newest_first(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, temporal_dev: Any
) -> None:
    alice = await add_client(client, owner, "Alice", tags=["vat"])
    bob = await add_client(client, owner, "Bob")
    first = await create_reminder(client, owner, reminder_body(alice, type="payment"))
    second = await create_reminder(client, owner, reminder_body(None, tag="VAT"))
    third = await create_reminder(
        client, owner, {**reminder_body(None), "client_ids": [bob, alice]}
    )
    await settled(temporal_dev, first)
    await client.post(f"{REMINDERS_URL}/{first['id']}/pause", headers=owner.headers)
    await create_reminder(client, other_owner, reminder_body(await add_client(client, other_owner)))

    async def ids(**params: str) -> list[str]:
        response = await client.get(REMINDERS_URL, headers=owner.headers, params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert await ids() == [third["id"], second["id"], first["id"]]
    assert await ids(status="paused") == [first["id"]]
    assert await ids(type="payment") == [first["id"]]
    assert await ids(client_id=alice) == [third["id"], first["id"]]
    assert await ids(client_id=bob) == [third["id"]]
    assert await ids(tag="vat") == [second["id"]]
    assert await ids(limit="1", offset="1") == [second["id"]]
    page = await client.get(REMINDERS_URL, headers=owner.headers, params={"limit": "1"})
    assert page.json()["total"] == 3
    for bad in ({"status": "asleep"}, {"type": "x"}, {"client_id": "nope"}, {"limit": "0"}):
        assert (
            await client.get(REMINDERS_URL, headers=owner.headers, params=bad)
        ).status_code == 422


async def test_a_signal_right_after_create_is_acted_on(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner, "Erin")
    created = await create_reminder(client, owner, reminder_body(client_id))
    # A few seconds ahead: under load the PATCH itself can take more than a second, and a
    # time already past is refused ("no occurrence in the future").
    response = await client.patch(
        f"{REMINDERS_URL}/{created['id']}", headers=owner.headers, json={"schedule": once(4)}
    )
    assert response.status_code == 200, response.text
    await wait_for_delivery(client, owner, created["id"], "delivered", timeout=20)


async def test_a_template_reminder_sends_the_template_and_inline_text_overrides_it(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner, "Frank")
    template = await client.post(
        "/api/v1/templates",
        headers=owner.headers,
        json={
            "name": "Chaser",
            "subject": "About {{ reminder.title }}",
            "body": "Dear {{ client.name }}",
        },
    )
    assert template.status_code == 201, template.text
    body = reminder_body(client_id, template_id=template.json()["id"])
    body.pop("body")
    created = await create_reminder(client, owner, body)
    assert created["template_id"] == template.json()["id"]
    await settled(temporal_dev, created)

    await client.post(f"{REMINDERS_URL}/{created['id']}/trigger", headers=owner.headers)
    delivery = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert (delivery["subject"], delivery["body"]) == ("About VAT return", "Dear Frank")

    patched = await client.patch(
        f"{REMINDERS_URL}/{created['id']}",
        headers=owner.headers,
        json={"subject": "Hello {{ client.name }}"},
    )
    assert patched.status_code == 200, patched.text
    key = (
        await client.post(f"{REMINDERS_URL}/{created['id']}/trigger", headers=owner.headers)
    ).json()

    async def overridden() -> bool:
        rows = await reminder_deliveries(client, owner, created["id"])
        return any(
            d["occurrence_key"] == key["occurrence_key"] and d["status"] == "delivered"
            for d in rows
        )

    await eventually(overridden, timeout=10, interval=0.2)
    latest = await reminder_deliveries(client, owner, created["id"])
    second = next(d for d in latest if d["occurrence_key"] == key["occurrence_key"])
    assert (second["subject"], second["body"]) == ("Hello Frank", "Dear Frank")


# -- when things go wrong --------------------------------------------------------------------


async def test_create_answers_503_and_stores_nothing_when_temporal_is_unreachable(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    before = await count_rows(app, "app_events")
    response = await client.post(
        REMINDERS_URL, headers=owner.headers, json=reminder_body(client_id)
    )
    assert response.status_code == 503, response.text
    assert "Temporal" in response.json()["detail"]
    assert await count_rows(app, "reminders") == 0
    assert await count_rows(app, "app_events") == before

    # Bad input is still a 422, not hidden behind the outage.
    bad = await client.post(
        REMINDERS_URL, headers=owner.headers, json=reminder_body(client_id, type="x")
    )
    assert bad.status_code == 422


async def test_with_temporal_down_reads_answer_from_the_row_and_changes_are_refused(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Any, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    url = f"{REMINDERS_URL}/{created['id']}"
    assert (await get_reminder(client, owner, created["id"]))["live"] is True

    working = live_app.state.temporal
    live_app.state.temporal = TemporalConnector(settings)  # points at a closed port
    try:
        # The row is the workflow's state (it is not due): it answers, still `live`.
        view = await get_reminder(client, owner, created["id"])
        assert (view["live"], view["status"]) == (True, "scheduled")
        assert view["next_fire_at"] == created["next_fire_at"]
        # Asked to query the workflow, it cannot: the row answers, `live: false`.
        view = await get_reminder(client, owner, created["id"], live="true")
        assert view["live"] is False
        assert view["status"] == "scheduled"
        assert view["next_fire_at"] == created["next_fire_at"]

        for action in ("pause", "resume", "complete", "trigger"):
            response = await client.post(f"{url}/{action}", headers=owner.headers)
            assert response.status_code == 503, (action, response.text)
        assert (await client.delete(url, headers=owner.headers)).status_code == 503
        assert (await client.get(f"{url}/history", headers=owner.headers)).status_code == 503
        moved = await client.patch(url, headers=owner.headers, json={"schedule": once(60)})
        assert moved.status_code == 503
        # Content lives in the row: it changes without Temporal.
        renamed = await client.patch(url, headers=owner.headers, json={"title": "Renamed"})
        assert renamed.status_code == 200, renamed.text
        assert (await client.get(f"{url}/deliveries", headers=owner.headers)).status_code == 200
        assert (await client.get(REMINDERS_URL, headers=owner.headers)).json()["total"] == 1
    finally:
        live_app.state.temporal = working

    view = await get_reminder(client, owner, created["id"])
    assert (view["live"], view["status"], view["title"]) == (True, "scheduled", "Renamed")
    assert view["schedule"] == created["schedule"]


async def test_a_read_waiting_on_temporal_holds_no_database_connection(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Any
) -> None:
    """Temporal that accepts connections and never answers (an overloaded frontend): the
    read waits for its query, but gives its database connection back first, so a slow
    Temporal cannot use up the pool every other request needs."""
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the kernel; nothing ever answers them
    host, port = silent.getsockname()
    working = live_app.state.temporal
    live_app.state.temporal = TemporalConnector(
        settings.model_copy(update={"TEMPORAL_ADDRESS": f"{host}:{port}"})
    )
    pool = live_app.state.engine.pool
    try:
        read = asyncio.create_task(get_reminder(client, owner, created["id"], live="true"))
        await asyncio.sleep(QUERY_TIMEOUT / 2)
        assert not read.done()  # still waiting on Temporal
        assert pool.checkedout() == 0
        view = await read
    finally:
        live_app.state.temporal = working
        silent.close()
    assert (view["live"], view["status"], view["title"]) == (False, "scheduled", created["title"])


async def test_a_row_that_cannot_be_stored_terminates_its_workflow(
    live_app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    temporal_dev: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id = await add_client(client, owner)
    terminated: list[str] = []
    terminate = service._terminate_quietly

    async def spy(temporal: Any, workflow_id: str, reason: str) -> None:
        terminated.append(workflow_id)
        await terminate(temporal, workflow_id, reason)

    async def failing_commit(self: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "_terminate_quietly", spy)
    monkeypatch.setattr("sqlalchemy.ext.asyncio.AsyncSession.commit", failing_commit)
    response = await client.post(
        REMINDERS_URL, headers=owner.headers, json=reminder_body(client_id)
    )
    monkeypatch.undo()

    assert response.status_code == 503, response.text
    assert await count_rows(live_app, "reminders") == 0
    assert len(terminated) == 1
    description = await temporal_dev.client.get_workflow_handle(terminated[0]).describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED


BAD_INPUT: dict[str, dict[str, Any]] = {
    "unknown type": {"type": "birthday"},
    "unknown channel": {"channels": ["fax"]},
    "repeated channel": {"channels": ["email", "email"]},
    "schedule kind": {"schedule": {"kind": "weekly"}},
    "schedule not an object": {"schedule": "tomorrow"},
    "schedule in the past": {"schedule": {"kind": "once", "at": "2020-01-01T09:00:00+00:00"}},
    "schedule without offset": {"schedule": {"kind": "once", "at": "2030-01-01T09:00:00"}},
    "bad rrule": {
        "schedule": {
            "kind": "recurring",
            "rrule": "FREQ=SOMETIMES",
            "start": "2030-01-01T09:00:00Z",
        }
    },
    "bad offset": {
        "schedule": {"kind": "deadline", "due_at": "2030-01-01T09:00:00Z", "offsets": ["7 days"]}
    },
    "bad exdate": {
        "schedule": {
            "kind": "recurring",
            "rrule": "FREQ=DAILY",
            "start": "2030-01-01T09:00:00Z",
            "exdates": ["Christmas"],
        }
    },
    "unknown business days country": {
        "schedule": {
            "kind": "recurring",
            "rrule": "FREQ=DAILY",
            "start": "2030-01-01T09:00:00Z",
            "business_days": {"country": "Narnia"},
        }
    },
    "exdate on a once": {
        "schedule": {"kind": "once", "at": "2030-01-01T09:00:00Z", "exdates": ["2030-01-01"]}
    },
    "unknown time zone": {"timezone": "Mars/Olympus"},
    "template syntax": {"body": "Hi {{ client.name }\nbye"},
    "subject syntax": {"subject": "{% if %}"},
    "no body nor template": {"body": None},
    "blank body": {"body": "   "},
    "empty title": {"title": " "},
    "both audiences": {"tag": "vat"},
    "no audience": {"client_ids": None},
    "empty client list": {"client_ids": []},
    "malformed client id": {"client_ids": ["not-a-uuid"]},
    "unknown client id": {"client_ids": [str(uuid.UUID(int=7))]},
    "too many clients": {"client_ids": [str(uuid.uuid4()) for _ in range(201)]},
    "unknown template": {"template_id": str(uuid.UUID(int=9))},
    "field not settable": {"status": "completed"},
    "NUL in title": {"title": "VAT\x00"},
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
async def test_bad_input_is_a_422_and_stores_nothing(
    case: str, app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    body = {
        k: v for k, v in {**reminder_body(client_id), **BAD_INPUT[case]}.items() if v is not None
    }
    response = await client.post(REMINDERS_URL, headers=owner.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert await count_rows(app, "reminders") == 0


async def test_errors_name_what_is_wrong(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    client_id = await add_client(client, owner)
    foreign = await add_client(client, other_owner)
    missing = str(uuid.uuid4())

    async def detail(**overrides: Any) -> str:
        body = reminder_body(client_id, **overrides)
        response = await client.post(REMINDERS_URL, headers=owner.headers, json=body)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    named = await detail(client_ids=[client_id, foreign, missing])
    assert foreign in named
    assert missing in named
    assert client_id not in named
    assert "line 2" in await detail(body="Hello\n{{ client.name }")
    assert "schedule.kind" in await detail(schedule={"kind": "weekly"})
    assert "future" in await detail(schedule={"kind": "once", "at": "2020-01-01T00:00:00Z"})
    foreign_template = await client.post(
        "/api/v1/templates", headers=other_owner.headers, json={"name": "T", "body": "x"}
    )
    assert "template_id" in await detail(template_id=foreign_template.json()["id"])
    assert await count_rows(app, "reminders") == 0


async def test_another_business_gets_404_on_every_route(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    routes = [
        ("GET", "", None),
        ("PATCH", "", {"title": "Hijacked"}),
        ("PATCH", "", {"schedule": once(60)}),
        ("DELETE", "", None),
        ("POST", "/trigger", None),
        ("POST", "/pause", None),
        ("POST", "/resume", None),
        ("POST", "/complete", None),
        ("GET", "/deliveries", None),
        ("GET", "/history", None),
    ]
    for method, suffix, body in routes:
        for reminder_id in (created["id"], str(uuid.uuid4()), "not-an-id"):
            response = await client.request(
                method,
                f"{REMINDERS_URL}/{reminder_id}{suffix}",
                headers=other_owner.headers,
                json=body,
            )
            assert response.status_code == 404, (method, suffix, response.text)
            assert response.json() == {"detail": "Reminder not found"}
    listing = await client.get(REMINDERS_URL, headers=other_owner.headers)
    assert listing.json() == {"items": [], "total": 0, "total_exact": True, "next_cursor": None}

    view = await get_reminder(client, owner, created["id"])
    assert (view["title"], view["status"]) == ("VAT return", "scheduled")
    assert await reminder_deliveries(client, owner, created["id"]) == []


async def test_reminder_for_many_clients_starts_and_reaches_all_of_them(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    # 60 ids are more than a ClientIds search attribute may hold (2 KB): the reminder must
    # still start, findable by BusinessId, and send to every one of them.
    ids = [await add_client(client, owner, f"Client {n:02d}") for n in range(60)]
    created = await create_reminder(client, owner, reminder_body(client_ids=ids, schedule=once(2)))

    async def delivered() -> list[dict[str, Any]]:
        response = await client.get(
            f"{REMINDERS_URL}/{created['id']}/deliveries?limit=200", headers=owner.headers
        )
        return [d for d in response.json()["items"] if d["status"] == "delivered"]

    async def all_delivered() -> bool:
        return len(await delivered()) == 60

    await eventually(all_delivered, timeout=30)
    assert {d["client_id"] for d in await delivered()} == set(ids)


async def test_a_reminders_description_is_kept_changed_and_shown_in_its_message(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    client_id = await add_client(client, owner, "Alice Jones")
    body = reminder_body(
        client_id,
        schedule=once(4),
        description="Q3 VAT documents",
        body="Hi {{ client.name }}, we need: {{ reminder.description }}.",
    )
    created = await create_reminder(client, owner, body)
    assert created["description"] == "Q3 VAT documents"
    url = f"{REMINDERS_URL}/{created['id']}"
    too_long = await client.patch(url, headers=owner.headers, json={"description": "x" * 2001})
    assert too_long.status_code == 422
    changed = await client.patch(
        url, headers=owner.headers, json={"description": "bank statements and invoices"}
    )
    assert changed.status_code == 200, changed.text
    assert (await get_reminder(client, owner, created["id"]))["description"] == (
        "bank statements and invoices"
    )

    # The message reads the reminder as it is when it goes.
    delivery = await wait_for_delivery(client, owner, created["id"], "delivered")
    assert delivery["body"] == "Hi Alice Jones, we need: bank statements and invoices."
