"""Webhook events reach a business's receiver on loopback, signed, once, whatever the
receiver answers first; through the API and a worker on the time-skipping server (a
day of backoff takes moments)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from core.settings import Settings
from core.types import utcnow
from core.webhook_events import STRANDED_AFTER, emit, start_stranded
from core.webhook_models import WebhookDelivery
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import app_events
from tests.builders.webhook_receiver import WebhookReceiver
from tests.conftest import settings_changed
from tests.fakes.smtp import unused_port

URL = "/api/v1/webhook-endpoints"
ALL_EVENTS = [
    "delivery.sent",
    "delivery.delivered",
    "delivery.failed",
    "client.opted_out",
    "reply.received",
    "reminder.completed",
    "client.done",
]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield firm


async def add_endpoint(
    firm: Firm, receiver: WebhookReceiver, events: list[str] | None = None
) -> dict[str, Any]:
    response = await firm.http.post(
        URL, headers=firm.headers, json={"url": receiver.url, "events": events or ALL_EVENTS}
    )
    assert response.status_code == 201, response.text
    endpoint = dict(response.json())
    receiver.secret = endpoint["secret"]
    return endpoint


async def log_of(firm: Firm, endpoint_id: str) -> list[dict[str, Any]]:
    response = await firm.http.get(f"{URL}/{endpoint_id}/deliveries", headers=firm.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def settled(firm: Firm, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's log once every delivery in it has finished (time skips meanwhile)."""
    for delivery in await log_of(firm, endpoint_id):
        await finished(firm, delivery["id"])
    return await log_of(firm, endpoint_id)


async def finished(firm: Firm, delivery_id: str) -> Any:
    """The delivery's workflow result; time skips while it runs (a handle the API's start
    made would do this itself, one looked up by id does not)."""
    handle = firm.env.client.get_workflow_handle(f"webhook-{delivery_id}")
    async with firm.env.time_skipping_unlocked():
        return await handle.result()


async def send_test(firm: Firm, endpoint_id: str) -> str:
    response = await firm.http.post(f"{URL}/{endpoint_id}/test", headers=firm.headers)
    assert response.status_code == 202, response.text
    return str(response.json()["delivery_id"])


async def test_an_event_refused_three_times_is_accepted_once_signed(
    firm: Firm, receiver: WebhookReceiver
) -> None:
    endpoint = await add_endpoint(firm, receiver)
    receiver.answers = [500, 500, 500]
    delivery_id = await send_test(firm, endpoint["id"])

    [delivery] = await settled(firm, endpoint["id"])

    assert len(receiver.received) == 4
    assert [r.status for r in receiver.received] == [500, 500, 500, 200]
    assert all(receiver.verifies(r) for r in receiver.received)
    # One message: the same webhook-id on every attempt, for the receiver to deduplicate.
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery_id}
    [event] = receiver.accepted
    assert event["type"] == "webhook.test"
    assert event["data"]["endpoint_id"] == endpoint["id"]
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 4)
    assert delivery["last_status_code"] == 200
    assert delivery["last_error"] is None


async def test_a_signature_made_with_another_secret_does_not_verify(
    firm: Firm, receiver: WebhookReceiver
) -> None:
    endpoint = await add_endpoint(firm, receiver)
    rotated = await firm.http.post(f"{URL}/{endpoint['id']}/rotate-secret", headers=firm.headers)
    await send_test(firm, endpoint["id"])
    await settled(firm, endpoint["id"])

    [item] = receiver.received
    assert not receiver.verifies(item)  # signed with the new secret, not the first one
    receiver.secret = rotated.json()["secret"]
    assert receiver.verifies(item)


async def test_a_deleted_endpoint_gets_nothing_more(firm: Firm, receiver: WebhookReceiver) -> None:
    endpoint = await add_endpoint(firm, receiver)
    receiver.answers = [500] * 10
    delivery_id = await send_test(firm, endpoint["id"])
    while not receiver.received:  # the first attempt (no time skips while we poll)
        await firm.env.sleep(0)
    deleted = await firm.http.delete(f"{URL}/{endpoint['id']}", headers=firm.headers)
    assert deleted.status_code == 204

    assert await finished(firm, delivery_id) == "gone"
    assert len(receiver.received) == 1


async def test_failing_deliveries_disable_the_endpoint_with_an_audit_event(
    temporal_time_skipping: Any, settings: Settings, receiver: WebhookReceiver
) -> None:
    wired = settings.model_copy(update={"WEBHOOK_DISABLE_AFTER_FAILURES": 2})
    async with firm_on(temporal_time_skipping, wired) as firm:
        endpoint = await add_endpoint(firm, receiver)
        receiver.answers = [503] * 1000
        await send_test(firm, endpoint["id"])
        await send_test(firm, endpoint["id"])

        log = await settled(firm, endpoint["id"])

        assert [d["status"] for d in log] == ["failed", "failed"]
        assert all(d["attempts"] > 10 for d in log)  # retried all day long
        assert log[0]["last_status_code"] == 503
        read = await firm.http.get(f"{URL}/{endpoint['id']}", headers=firm.headers)
        assert read.json()["is_enabled"] is False
        assert "2 deliveries in a row failed" in read.json()["disabled_reason"]
        disabled = await app_events(firm.http.app, "webhook_endpoint.disabled")  # type: ignore[attr-defined]
        assert [subject for subject, _ in disabled] == [endpoint["id"]]
        refused = await firm.http.post(f"{URL}/{endpoint['id']}/test", headers=firm.headers)
        assert refused.status_code == 409
        before = len(receiver.received)
        # A client event now: no row, no request, for a disabled endpoint.
        await firm.add_client("Ada")
        assert len(await log_of(firm, endpoint["id"])) == 2
        assert len(receiver.received) == before


async def test_the_published_receiver_example_verifies_a_delivery(firm: Firm) -> None:
    port = unused_port()
    response = await firm.http.post(
        URL,
        headers=firm.headers,
        json={"url": f"http://127.0.0.1:{port}/", "events": ["client.done"]},
    )
    endpoint = response.json()
    example = Path(__file__).parents[3] / "docs" / "webhook_receiver.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(example),
        str(port),
        env={**os.environ, "WEBHOOK_SECRET": endpoint["secret"]},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await listening(port)
        delivery_id = await send_test(firm, endpoint["id"])
        [delivery] = await settled(firm, endpoint["id"])
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
    finally:
        process.terminate()
        await process.wait()
    assert (delivery["id"], delivery["status"], delivery["last_status_code"]) == (
        delivery_id,
        "succeeded",
        204,
    )
    assert line.decode().startswith("webhook.test ")


async def listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    pytest.fail(f"the example receiver never listened on {port}")


async def test_a_delivery_whose_start_was_lost_is_started_by_the_sweep(
    firm: Firm, receiver: WebhookReceiver
) -> None:
    endpoint = await add_endpoint(firm, receiver)
    app: Any = firm.http.app  # type: ignore[attr-defined]
    settings = app.state.settings
    # What an API that stopped right after its commit leaves: a row, no workflow.
    async with app.state.sessionmaker() as session:
        [row] = await emit(
            session,
            uuid.UUID(firm.owner.business_id),
            "client.done",
            {"client_id": uuid.uuid4(), "reminder_id": uuid.uuid4()},
        )
        await session.commit()
    assert str(row.endpoint_id) == endpoint["id"]
    sweep = (app.state.sessionmaker, firm.env.client, settings.TEMPORAL_TASK_QUEUE)
    assert await start_stranded(*sweep) == 0  # just written: its start may be under way

    async with app.state.sessionmaker() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row.id)
            .values(created_at=utcnow() - STRANDED_AFTER - timedelta(seconds=1))
        )
        await session.commit()
    assert await start_stranded(*sweep) == 1

    assert await finished(firm, str(row.id)) == "succeeded"
    assert await start_stranded(*sweep) == 0
    [event] = receiver.accepted
    assert event["type"] == "client.done"
    assert receiver.received[0].headers["webhook-id"] == str(row.id)


async def test_the_worker_checks_the_address_again_when_it_connects(
    temporal_time_skipping: Any, settings: Settings, receiver: WebhookReceiver
) -> None:
    """An endpoint saved while loopback was allowed (or whose name now resolves there) is
    not called once the platform refuses private addresses: the attempt records why."""
    public_only = settings.model_copy(update={"ALLOW_PRIVATE_DESTINATIONS": False})
    async with firm_on(temporal_time_skipping, public_only) as firm:
        with settings_changed(firm.http.app, ALLOW_PRIVATE_DESTINATIONS=True):  # type: ignore[attr-defined]
            endpoint = await add_endpoint(firm, receiver)
        await send_test(firm, endpoint["id"])
        for _ in range(400):  # the first attempt, in real time (no time skips meanwhile)
            [delivery] = await log_of(firm, endpoint["id"])
            if delivery["last_error"] is not None:
                break
            await asyncio.sleep(0.05)
        await firm.http.delete(f"{URL}/{endpoint['id']}", headers=firm.headers)
        assert await finished(firm, delivery["id"]) == "gone"  # leaves nothing running
    assert delivery["status"] == "pending"  # retried later, unless the endpoint changes
    assert "not a public internet address" in delivery["last_error"]
    assert delivery["last_status_code"] is None
    assert receiver.received == []
