"""`POST /notifications/{id}/resend`: a failed or undelivered delivery sent again, now,
through the reminder's workflow, as a new delivery linked to the original; end to end on
the dev server with a worker (sandbox providers, or email over SMTP to a local server),
also once the reminder's workflow has ended, and the timeline of recorded resends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels import build_providers
from core.models import Delivery
from core.settings import Settings
from tests.builders.api import (
    add_client,
    create_reminder,
    get_reminder,
    once,
    reminder_body,
    settled,
    wait_for_delivery,
)
from tests.conftest import Tenant, build_worker, eventually
from tests.fakes.smtp import FakeSmtpServer
from workflows.history import build_timeline

URL = "/api/v1/notifications"
ALICE = "alice@client.example.com"
BOUNCE = "5.1.1 Mailbox unavailable"


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
    created = await create_reminder(client, owner, reminder_body(client_id))
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


async def test_resend_refuses_other_businesses_sent_and_cancelled(
    live_app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    other_owner: Tenant,
    temporal_dev: Any,
) -> None:
    client_id = await add_client(client, owner)
    created = await create_reminder(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    failed = await add_delivery(live_app, owner, created["id"], client_id)
    sent = await add_delivery(live_app, owner, created["id"], client_id, status="sent")

    assert (await resend(client, other_owner, failed)).status_code == 404
    assert (await resend(client, owner, str(uuid.uuid4()))).status_code == 404
    assert (await resend(client, owner, "not-an-id")).status_code == 404
    refused = await resend(client, owner, sent)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("delivery is sent")

    other = await create_reminder(client, owner, reminder_body(client_id))
    undelivered = await add_delivery(live_app, owner, other["id"], client_id, "undelivered")
    cancel = await client.delete(f"/api/v1/reminders/{other['id']}", headers=owner.headers)
    assert cancel.status_code == 204
    refused = await resend(client, owner, undelivered)
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]


# -- email over SMTP, also after the reminder's workflow has ended ---------------------------


@pytest.fixture
async def mail(app: Any, temporal_dev: Any, settings: Settings) -> AsyncIterator[FakeSmtpServer]:
    """The app on the dev server, with a worker that sends email over SMTP to a local
    server: what arrives there is what a client would get."""
    async with FakeSmtpServer() as smtp:
        worker_settings = settings.model_copy(
            update={
                **smtp.smtp_settings(),
                "EMAIL_BACKEND": "smtp",
                "SMTP_TIMEOUT_SECONDS": 5.0,
                "DEFAULT_FROM_EMAIL": "reminders@platform.example.com",
            }
        )
        providers = build_providers(worker_settings)
        worker = build_worker(
            temporal_dev.client,
            worker_settings,
            settings.TEMPORAL_TASK_QUEUE,
            app.state.sessionmaker,
            providers,
        )
        app.state.temporal.set_client(temporal_dev.client)
        try:
            async with worker:
                yield smtp
        finally:
            app.state.temporal._client = None
            for provider in providers.values():
                await provider.close()


async def ended(temporal_dev: Any, reminder: dict[str, Any]) -> None:
    """Wait until the reminder's workflow (its latest run) has closed."""
    handle = temporal_dev.client.get_workflow_handle(reminder["workflow_id"])
    await asyncio.wait_for(handle.result(), timeout=30)


async def resent_row(
    http: httpx.AsyncClient, tenant: Tenant, reminder: dict[str, Any], key: str
) -> dict[str, Any]:
    """The resend's delivery once the worker has sent it, with its run closed."""
    found: dict[str, Any] = {}

    async def sent() -> bool:
        rows = {d["occurrence_key"]: d for d in await listed(http, tenant, reminder["id"])}
        found.update(rows.get(key) or {})
        return found.get("status") == "sent"

    await eventually(sent, timeout=20, interval=0.2)
    return found


async def timeline(http: httpx.AsyncClient, tenant: Tenant, reminder_id: str) -> Any:
    response = await http.get(
        f"/api/v1/reminders/{reminder_id}/history", headers=tenant.headers, params={"limit": 200}
    )
    assert response.status_code == 200, response.text
    return response.json()


def in_order(texts: list[str], *prefixes: str) -> bool:
    """Whether entries starting with each prefix come in this order (others between)."""
    at = 0
    for prefix in prefixes:
        at = next((i for i in range(at, len(texts)) if texts[i].startswith(prefix)), -1) + 1
        if at == 0:
            return False
    return True


async def test_a_once_reminder_that_fired_and_bounced_is_resent_after_it_ended(
    mail: FakeSmtpServer, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    mail.reject_recipient(ALICE, 550, BOUNCE)
    client_id = await add_client(client, owner, "Alice Jones", email=ALICE)
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=once(2)))
    bounced = await wait_for_delivery(client, owner, created["id"], "failed")
    await ended(temporal_dev, created)
    assert (await get_reminder(client, owner, created["id"]))["status"] == "completed"
    mail.reset()  # Alice's mailbox works again

    response = await resend(client, owner, bounced["id"])
    assert response.status_code == 202, response.text
    key = response.json()["occurrence_key"]
    row = await resent_row(client, owner, created, key)
    await ended(temporal_dev, created)

    [message] = mail.messages
    assert message.message["To"] == ALICE
    assert (row["resend_of"], row["client_id"], row["channel"]) == (
        bounced["id"],
        client_id,
        "email",
    )
    after = await get_reminder(client, owner, created["id"])
    assert (after["status"], after["occurrences_sent"], after["next_fire_at"]) == (
        "completed",
        1,
        None,
    )
    found = await timeline(client, owner, created["id"])
    assert found["runs"] == 2
    texts = [entry["text"] for entry in found["items"]]
    assert [e["at"] for e in found["items"]] == sorted(e["at"] for e in found["items"])
    assert in_order(
        texts,
        "Started: once at ",
        "Email to Alice Jones failed: ",
        "Completed: no further occurrences",
        "Started again to resend; the reminder stays completed",
        f"Resend of Email to Alice Jones requested by {owner.email}",
        f"Email to Alice Jones: sent, resending delivery {bounced['id'][:8]}",
        "Resend done; the reminder stays completed",
    )


async def test_a_completed_recurring_reminder_resends_each_request_once(
    mail: FakeSmtpServer, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    mail.reject_recipient(ALICE, 550, BOUNCE)
    client_id = await add_client(client, owner, "Alice Jones", email=ALICE)
    schedule = {"kind": "recurring", "rrule": "FREQ=WEEKLY", "start": once(86400)["at"]}
    created = await create_reminder(client, owner, reminder_body(client_id, schedule=schedule))
    await settled(temporal_dev, created)
    trigger = await client.post(f"/api/v1/reminders/{created['id']}/trigger", headers=owner.headers)
    assert trigger.status_code == 202, trigger.text
    bounced = await wait_for_delivery(client, owner, created["id"], "failed")
    done = await client.post(f"/api/v1/reminders/{created['id']}/complete", headers=owner.headers)
    assert done.status_code == 200, done.text
    await ended(temporal_dev, created)
    mail.reset()

    keys = []
    for _ in range(2):  # the same delivery twice: each request is one more attempt
        response = await resend(client, owner, bounced["id"])
        assert response.status_code == 202, response.text
        keys.append(response.json()["occurrence_key"])
        assert (await resent_row(client, owner, created, keys[-1]))["resend_of"] == bounced["id"]
        await ended(temporal_dev, created)

    assert len(keys) == len(set(keys)) == 2
    assert [m.message["To"] for m in mail.messages] == [ALICE, ALICE]
    assert (await get_reminder(client, owner, created["id"]))["status"] == "completed"
    found = await timeline(client, owner, created["id"])
    assert found["runs"] == 3
    kinds = [entry["kind"] for entry in found["items"]]
    assert kinds[0] == "started"
    assert kinds.count("restarted") == 2
    sends = [e["details"]["occurrence_key"] for e in found["items"] if e["kind"] == "delivery"]
    assert sends == keys


async def test_a_cancelled_reminder_resends_nothing(
    mail: FakeSmtpServer, client: httpx.AsyncClient, owner: Tenant, temporal_dev: Any
) -> None:
    mail.reject_recipient(ALICE, 550, BOUNCE)
    client_id = await add_client(client, owner, "Alice Jones", email=ALICE)
    created = await create_reminder(client, owner, reminder_body(client_id))
    await settled(temporal_dev, created)
    trigger = await client.post(f"/api/v1/reminders/{created['id']}/trigger", headers=owner.headers)
    assert trigger.status_code == 202, trigger.text
    bounced = await wait_for_delivery(client, owner, created["id"], "failed")
    cancel = await client.delete(f"/api/v1/reminders/{created['id']}", headers=owner.headers)
    assert cancel.status_code == 204
    await ended(temporal_dev, created)
    mail.reset()
    handle = temporal_dev.client.get_workflow_handle(created["workflow_id"])
    last_run = (await handle.describe()).run_id

    refused = await resend(client, owner, bounced["id"])
    assert refused.status_code == 409
    assert refused.json()["detail"] == "reminder is cancelled; its deliveries cannot be resent"
    assert (mail.attempts, mail.messages) == (0, [])
    assert [d["id"] for d in await listed(client, owner, created["id"])] == [bounced["id"]]
    assert (await handle.describe()).run_id == last_run  # no run was started for it


def test_a_recorded_resend_reads_as_requested_then_sent() -> None:
    from tests.builders.delivery import HISTORIES, load_history

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


def test_a_recorded_resend_after_completion_reads_as_a_run_of_its_own() -> None:
    from tests.builders.delivery import HISTORIES, load_history

    events = list(load_history(HISTORIES / "resend_after_completion.json").events)
    timeline = build_timeline([events])
    assert (timeline[0].kind, timeline[0].text) == (
        "restarted",
        "Started again to resend; the reminder stays completed",
    )
    [asked] = [e for e in timeline if e.text.startswith("Resend of ")]
    [again] = [e for e in timeline if e.kind == "delivery"]
    assert again.details["occurrence_key"] == "resend-recorded-resend-2"
    assert again.details["resend_of"] == asked.details["resend_of"]
    assert timeline.index(asked) < timeline.index(again)
    assert (timeline[-1].kind, timeline[-1].text) == (
        "completed",
        "Resend done; the reminder stays completed",
    )
