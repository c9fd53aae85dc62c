"""`POST /notifications/{id}/resend`: a failed or undelivered delivery sent again, now,
through the reminder's workflow, as a new delivery linked to the original; end to end on
the dev server with a worker (sandbox providers), and the timeline of a recorded resend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import WorkflowExecutionStatus

from api.reminders.history import build_timeline
from core.models import Delivery
from tests.api.test_reminders import add_client, create, reminder_body, settled
from tests.conftest import Tenant, eventually

URL = "/api/v1/notifications"


async def add_delivery(
    app: Any, tenant: Tenant, reminder_id: str, client_id: str, status: str = "failed"
) -> str:
    """A delivery of the reminder as the worker would have left it."""
    delivery = Delivery(
        business_id=uuid.UUID(tenant.business_id),
        reminder_id=uuid.UUID(reminder_id),
        client_id=uuid.UUID(client_id),
        channel="email",
        occurrence_key=f"2026-11-01T09:00:00Z-{uuid.uuid4().hex[:6]}",
        status=status,
        attempts=1,
        error_code="smtp_550" if status == "failed" else None,
        error_message="5.1.1 Mailbox unavailable" if status == "failed" else None,
        scheduled_for=datetime(2026, 11, 1, 9, tzinfo=UTC),
    )
    async with app.state.sessionmaker() as session:
        session.add(delivery)
        await session.commit()
    return str(delivery.id)


async def resend(http: httpx.AsyncClient, tenant: Tenant, delivery_id: str) -> httpx.Response:
    return await http.post(f"{URL}/{delivery_id}/resend", headers=tenant.headers)


async def listed(http: httpx.AsyncClient, tenant: Tenant, reminder_id: str) -> list[Any]:
    response = await http.get(URL, headers=tenant.headers, params={"reminder_id": reminder_id})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_failed_delivery_is_resent_linked_to_it_and_shows_in_the_history(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    client_id = await add_client(client, owner, "Alice Jones")
    created = await create(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    failed = await add_delivery(live_app, owner, created["id"], client_id)

    response = await resend(client, owner, failed)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] is True
    assert answer["resend_of"] == failed
    key = answer["occurrence_key"]
    assert key.startswith("resend-")

    found: dict[str, Any] = {}

    async def resent() -> bool:
        rows = {d["occurrence_key"]: d for d in await listed(client, owner, created["id"])}
        found.update(rows)
        return rows.get(key, {}).get("status") == "delivered"

    await eventually(resent, timeout=15, interval=0.2)
    assert found[key]["resend_of"] == failed
    assert found[key]["client_id"] == client_id
    original = next(d for d in found.values() if d["id"] == failed)
    assert (original["status"], original["resend_of"]) == ("failed", None)

    history = await client.get(
        f"/api/v1/reminders/{created['id']}/history", headers=owner.headers, params={"limit": 200}
    )
    texts = [entry["text"] for entry in history.json()["items"]]
    assert f"Resend of Email to Alice Jones requested by {owner.email}" in texts
    assert f"Email to Alice Jones: delivered, resending delivery {failed[:8]}" in texts

    events = await client.get("/api/v1/events", headers=owner.headers)
    [event] = [e for e in events.json()["items"] if e["action"] == "notification.resend_requested"]
    assert event["subject_id"] == failed

    # Only failed or undelivered deliveries are resent: not the one that arrived.
    again = await resend(client, owner, found[key]["id"])
    assert again.status_code == 409
    assert "only failed or undelivered" in again.json()["detail"]


async def test_resend_refuses_other_businesses_sent_and_cancelled_and_ended(
    live_app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    other_owner: Tenant,
    temporal_dev: Any,
) -> None:
    client_id = await add_client(client, owner)
    created = await create(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    failed = await add_delivery(live_app, owner, created["id"], client_id)
    sent = await add_delivery(live_app, owner, created["id"], client_id, status="sent")

    assert (await resend(client, other_owner, failed)).status_code == 404
    assert (await resend(client, owner, str(uuid.uuid4()))).status_code == 404
    assert (await resend(client, owner, "not-an-id")).status_code == 404
    refused = await resend(client, owner, sent)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("delivery is sent")

    # A completed reminder whose workflow has ended cannot send any more.
    response = await client.post(
        f"/api/v1/reminders/{created['id']}/complete", headers=owner.headers
    )
    assert response.status_code == 200, response.text
    handle = temporal_dev.client.get_workflow_handle(created["workflow_id"])

    async def ended() -> bool:
        return bool((await handle.describe()).status != WorkflowExecutionStatus.RUNNING)

    await eventually(ended, timeout=10, interval=0.1)
    late = await resend(client, owner, failed)
    assert late.status_code == 409
    assert late.json()["detail"] == "reminder is not running"

    other = await create(client, owner, reminder_body(client_id))
    undelivered = await add_delivery(live_app, owner, other["id"], client_id, "undelivered")
    cancel = await client.delete(f"/api/v1/reminders/{other['id']}", headers=owner.headers)
    assert cancel.status_code == 204
    refused = await resend(client, owner, undelivered)
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]


def test_a_recorded_resend_reads_as_requested_then_sent() -> None:
    from tests.workflows.test_replay import HISTORIES, load_history

    events = list(load_history(HISTORIES / "resend_after_failure.json").events)
    timeline = build_timeline([events])
    [asked] = [e for e in timeline if e.text.startswith("Resend of ")]
    assert asked.text.startswith("Resend of Email to client ")
    assert asked.text.endswith(" requested by recorder")
    assert asked.details["occurrence_key"] == "resend-recorded-resend-1"
    [again] = [e for e in timeline if e.details.get("resend_of") and e.kind == "delivery"]
    assert again.details["occurrence_key"] == "resend-recorded-resend-1"
    assert again.details["resend_of"] == asked.details["resend_of"]
    assert again.text.endswith(f"delivered, resending delivery {asked.details['resend_of'][:8]}")
    assert timeline.index(asked) < timeline.index(again)
