"""A text that fails after Twilio accepted it: the status callback arrives later, and a
reminder that falls back sends the message on the client's next channel, once, even
after the reminder itself completed. Through the API, a worker on the time-skipping
server, a local Twilio and a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from core.settings import Settings
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import (
    TWILIO_STATUS_URL,
    add_sender,
    app_events,
    post_signed,
    status_params,
)
from tests.conftest import eventually

ADA_PHONE = "+447911000444"
FIRM_NUMBER = "+447400123456"


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield firm


async def texted_reminder(firm: Firm, fallback: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ada (phone and email) is sent one SMS; the reminder has completed. Its delivery."""
    await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
    client_id = await firm.add_client("Ada", phone=ADA_PHONE)
    at = await firm.now() + timedelta(hours=1)
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Payroll documents",
            "type": "document_request",
            "client_ids": [client_id],
            "channels": ["sms"],
            "fallback": fallback,
            "subject": "Payroll documents",
            "body": "Hi {{ client.name }}, please send your payroll documents.",
            "schedule": {"kind": "once", "at": at.isoformat()},
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    reminder = response.json()
    await firm.sleep_until(at + timedelta(minutes=5))
    [message] = firm.twilio.messages
    assert message.to == ADA_PHONE
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder['id']}/deliveries", headers=firm.headers
    )
    [delivery] = listed.json()["items"]
    assert delivery["status"] == "sent"
    read = await firm.http.get(f"/api/v1/reminders/{reminder['id']}", headers=firm.headers)
    assert read.json()["status"] == "completed"
    return reminder, delivery


async def report(firm: Firm, delivery: dict[str, Any], status: str) -> str:
    """Twilio's signed status callback for the delivery."""
    path = f"{TWILIO_STATUS_URL}?delivery_id={delivery['id']}"
    params = status_params(delivery["provider_message_id"], status, ErrorCode="30005")
    response = await post_signed(firm.http, path, params)
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


async def test_a_text_undelivered_later_goes_out_once_by_email_instead(firm: Firm) -> None:
    reminder, texted = await texted_reminder(firm, fallback=True)

    assert await report(firm, texted, "undelivered") == "updated"

    async def emailed() -> bool:
        return len(firm.inbox("Ada")) == 1

    await eventually(emailed, timeout=20)
    # The same news again, and Twilio's later "failed": nothing more is sent.
    assert await report(firm, texted, "undelivered") == "unchanged"
    assert await report(firm, texted, "failed") == "unchanged"
    await firm.env.sleep(timedelta(minutes=5))

    [email] = firm.inbox("Ada")
    assert "please send your payroll documents" in email
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder['id']}/deliveries", headers=firm.headers
    )
    by_channel = {d["channel"]: d for d in listed.json()["items"]}
    assert set(by_channel) == {"sms", "email"}
    assert by_channel["sms"]["status"] == "undelivered"
    assert (by_channel["email"]["fallback_from"], by_channel["email"]["resend_of"]) == (
        "sms",
        texted["id"],
    )
    assert by_channel["email"]["status"] == "sent"
    read = await firm.http.get(f"/api/v1/reminders/{reminder['id']}", headers=firm.headers)
    assert read.json()["status"] == "completed"  # still: a fallback is not an occurrence
    requested = await app_events(firm.http.app, "delivery.fallback_requested")  # type: ignore[attr-defined]
    assert len(requested) == 1


async def test_without_fallback_a_late_failure_is_only_recorded(firm: Firm) -> None:
    reminder, texted = await texted_reminder(firm, fallback=False)

    assert await report(firm, texted, "undelivered") == "updated"
    await firm.env.sleep(timedelta(minutes=5))

    assert firm.inbox("Ada") == []
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder['id']}/deliveries", headers=firm.headers
    )
    assert [d["status"] for d in listed.json()["items"]] == ["undelivered"]
