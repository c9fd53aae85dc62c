"""A late failure's fallback when the API cannot reach Temporal: the failure is recorded,
the chosen channel is kept on the delivery, and the worker's sweep sends the message once
Temporal answers again, once; a reminder cancelled meanwhile sends nothing. Through the
API, a worker on the time-skipping server, a local Twilio and a real SMTP server; the
sweep is called as the worker calls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from core.settings import Settings
from tests.api.webhooks.test_late_failure import ADA_PHONE, FIRM_NUMBER, report, texted_reminder
from tests.builders.fallbacks import age_markers, marker, sweep, temporal_down
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import add_sender, app_events
from tests.conftest import eventually


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield firm


async def test_a_fallback_temporal_did_not_take_is_sent_once_by_the_worker(firm: Firm) -> None:
    reminder, texted = await texted_reminder(firm, fallback=True)

    with temporal_down(firm):
        assert await report(firm, texted, "undelivered") == "updated"
    await firm.env.sleep(timedelta(minutes=5))
    assert firm.inbox("Ada") == []
    assert await marker(firm, texted["id"]) == ("email", True)
    assert await sweep(firm) == 0  # just asked for: the API may still be at it

    await age_markers(firm)
    assert await sweep(firm) == 1

    async def emailed() -> bool:
        return len(firm.inbox("Ada")) == 1

    await eventually(emailed, timeout=20)
    assert await marker(firm, texted["id"]) == ("email", False)
    # Swept again, and Twilio's callback replayed: nothing more is sent.
    assert await sweep(firm) == 0
    assert await report(firm, texted, "undelivered") == "unchanged"
    await firm.env.sleep(timedelta(minutes=5))
    [email] = firm.inbox("Ada")
    assert "please send your payroll documents" in email
    assert len(firm.twilio.messages) == 1
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder['id']}/deliveries", headers=firm.headers
    )
    by_channel = {d["channel"]: d for d in listed.json()["items"]}
    assert (by_channel["email"]["fallback_from"], by_channel["email"]["status"]) == ("sms", "sent")
    assert len(await app_events(firm.http.app, "delivery.fallback_requested")) == 1  # type: ignore[attr-defined]
    assert await app_events(firm.http.app, "delivery.fallback_not_sent") == []  # type: ignore[attr-defined]


async def hourly_texted_reminder(firm: Firm) -> tuple[str, dict[str, Any]]:
    """Ada (phone and email) is texted the first of hourly messages; the reminder's id and
    that delivery. The reminder stays scheduled."""
    await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
    client_id = await firm.add_client("Ada", phone=ADA_PHONE)
    start = (await firm.now() + timedelta(hours=1)).replace(microsecond=0)
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Timesheets",
            "type": "document_request",
            "client_ids": [client_id],
            "channels": ["sms"],
            "fallback": True,
            "body": "Hi {{ client.name }}, please send your timesheets.",
            "schedule": {"kind": "recurring", "rrule": "FREQ=HOURLY", "start": start.isoformat()},
            "timezone": "UTC",
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    reminder_id = str(response.json()["id"])
    await firm.sleep_until(start + timedelta(minutes=5))
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder_id}/deliveries", headers=firm.headers
    )
    [delivery] = listed.json()["items"]
    assert delivery["status"] == "sent"
    return reminder_id, delivery


async def test_a_waiting_fallback_of_a_reminder_cancelled_meanwhile_is_dropped(
    firm: Firm,
) -> None:
    reminder_id, texted = await hourly_texted_reminder(firm)
    with temporal_down(firm):
        assert await report(firm, texted, "undelivered") == "updated"
    assert await marker(firm, texted["id"]) == ("email", True)

    cancelled = await firm.http.delete(f"/api/v1/reminders/{reminder_id}", headers=firm.headers)
    assert cancelled.status_code == 204, cancelled.text
    await age_markers(firm)
    assert await sweep(firm) == 0
    await firm.env.sleep(timedelta(minutes=5))

    assert firm.inbox("Ada") == []
    assert await marker(firm, texted["id"]) == ("email", False)  # dropped, not tried again
    [(_, payload)] = await app_events(firm.http.app, "delivery.fallback_not_sent")  # type: ignore[attr-defined]
    assert "cancelled" in str(payload)
    assert await app_events(firm.http.app, "delivery.fallback_requested") == []  # type: ignore[attr-defined]
