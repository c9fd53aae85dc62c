"""The events a business hears of, emitted where the facts happen: a reminder's message
sent, the reminder completed, the client done, a reply, a STOP. Through the API, a worker
on the time-skipping server, a real SMTP server, Twilio's signed callbacks and a
receiver on loopback that verifies every signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from core.settings import Settings
from tests.api.webhook_endpoints.test_delivery import ALL_EVENTS, add_endpoint, settled
from tests.api.webhooks.test_late_failure import report, texted_reminder
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import TWILIO_INBOUND_URL, add_sender, inbound_params, post_signed
from tests.builders.webhook_receiver import WebhookReceiver

ADA_PHONE = "+447911000555"
FIRM_NUMBER = "+447400123999"
BODY = "Hi {{ client.name }}, please send your payroll documents."


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield firm


async def emailed_reminder(firm: Firm, client_id: str) -> str:
    """A reminder emailed to the client once; its id, after it went out."""
    at = await firm.now() + timedelta(hours=1)
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Payroll documents",
            "type": "document_request",
            "client_ids": [client_id],
            "channels": ["email"],
            "subject": "Payroll documents",
            "body": BODY,
            "schedule": {"kind": "once", "at": at.isoformat()},
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    await firm.sleep_until(at + timedelta(minutes=5))
    assert len(firm.inbox("Ada")) == 1
    return str(response.json()["id"])


async def texted_in(firm: Firm, body: str) -> None:
    params = inbound_params(body, to=FIRM_NUMBER, sender=ADA_PHONE)
    response = await post_signed(firm.http, TWILIO_INBOUND_URL, params)
    assert response.status_code == 200, response.text


async def test_sends_completions_replies_opt_outs_and_dones_are_told(firm: Firm) -> None:
    async with WebhookReceiver() as receiver:
        endpoint = await add_endpoint(firm, receiver, ALL_EVENTS)
        await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
        client_id = await firm.add_client("Ada", phone=ADA_PHONE)
        reminder_id = await emailed_reminder(firm, client_id)
        done = await firm.http.post(
            f"/api/v1/reminders/{reminder_id}/clients/{client_id}/done", headers=firm.headers
        )
        assert done.status_code == 200, done.text
        await texted_in(firm, "I posted them yesterday")
        await texted_in(firm, "STOP")

        log = await settled(firm, endpoint["id"])

        assert {d["status"] for d in log} == {"succeeded"}
        events = {event["type"]: event for event in receiver.accepted}
        assert len(receiver.accepted) == len(log) == len(events)
    assert set(events) == {
        "delivery.sent",
        "reminder.completed",
        "client.done",
        "reply.received",
        "client.opted_out",
    }
    sent = events["delivery.sent"]["data"]
    assert (sent["reminder_id"], sent["client_id"], sent["channel"]) == (
        reminder_id,
        client_id,
        "email",
    )
    assert events["reminder.completed"]["data"]["reminder_id"] == reminder_id
    assert events["client.done"]["data"]["client_id"] == client_id
    assert events["reply.received"]["data"]["client_id"] == client_id
    assert events["client.opted_out"]["data"] == {
        "client_id": client_id,
        "channel": "sms",
        "source": "inbound_keyword",
    }
    # Ids and codes only: no message text, no client name, address or number.
    for item in receiver.received:
        text = item.body.decode()
        for private in ("payroll documents", "posted them", "Ada", ADA_PHONE, "example.com"):
            assert private not in text


async def test_an_endpoint_hears_only_the_events_it_asked_for(firm: Firm) -> None:
    async with WebhookReceiver() as receiver:
        endpoint = await add_endpoint(firm, receiver, ["client.opted_out"])
        await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
        client_id = await firm.add_client("Ada", phone=ADA_PHONE)
        await emailed_reminder(firm, client_id)
        staff = await firm.http.patch(
            f"/api/v1/clients/{client_id}",
            json={"opted_out_channels": ["email"]},
            headers=firm.headers,
        )
        assert staff.status_code == 200, staff.text

        log = await settled(firm, endpoint["id"])

    [event] = receiver.accepted
    assert len(log) == 1
    assert event["type"] == "client.opted_out"
    assert event["data"] == {"client_id": client_id, "channel": "email", "source": "staff"}


async def test_a_late_failure_reported_by_twilio_is_told_once(firm: Firm) -> None:
    async with WebhookReceiver() as receiver:
        endpoint = await add_endpoint(firm, receiver, ["delivery.failed", "delivery.delivered"])
        _, texted = await texted_reminder(firm, fallback=False)
        assert await report(firm, texted, "undelivered") == "updated"
        assert await report(firm, texted, "failed") == "unchanged"  # told once

        log = await settled(firm, endpoint["id"])

    assert [d["event_type"] for d in log] == ["delivery.failed"]
    [event] = receiver.accepted
    assert event["data"]["delivery_id"] == texted["id"]
    assert (event["data"]["status"], event["data"]["error_code"]) == ("undelivered", "30005")
