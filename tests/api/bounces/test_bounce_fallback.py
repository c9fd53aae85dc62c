"""An email that bounces after our SMTP server accepted it: the inbound-mail service posts
the RFC 3464 report, the delivery is recorded undelivered with the report's status, and a
reminder that falls back sends the message once by SMS instead. Through the API, a worker
on the time-skipping server, a real SMTP server and a local Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from core.settings import Settings
from tests.builders.bounces import BOUNCE_SECRET, dsn, post_bounce
from tests.builders.fallbacks import age_markers, marker, sweep, temporal_down
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import add_sender, app_events

ADA_PHONE = "+447911000444"
BOB_PHONE = "+447911000555"
FIRM_NUMBER = "+447400123456"


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    wired = settings.model_copy(update={"BOUNCE_WEBHOOK_SECRET": BOUNCE_SECRET})
    async with firm_on(temporal_time_skipping, wired) as firm:
        yield firm


async def emailed_reminder(firm: Firm) -> tuple[str, dict[str, str]]:
    """Ada and Bob (email, then SMS) are emailed once; the reminder's id and each one's
    Message-ID as their mail server received it."""
    await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
    clients = [
        await firm.add_client(name, phone=phone, preferred_channels=["email", "sms"])
        for name, phone in (("Ada", ADA_PHONE), ("Bob", BOB_PHONE))
    ]
    at = await firm.now() + timedelta(hours=1)
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Payroll documents",
            "type": "document_request",
            "client_ids": clients,
            "channels": ["email"],
            "fallback": True,
            "subject": "Payroll documents",
            "body": "Hi {{ client.name }}, please send your payroll documents.",
            "schedule": {"kind": "once", "at": at.isoformat()},
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    await firm.sleep_until(at + timedelta(minutes=5))
    assert firm.twilio.messages == []
    ids = {m.rcpt_tos[0].split("@")[0]: str(m.message["Message-ID"]) for m in firm.smtp.messages}
    assert set(ids) == {"ada", "bob"}
    return str(response.json()["id"]), ids


async def deliveries(firm: Firm, reminder_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The reminder's deliveries by (address, channel)."""
    listed = await firm.http.get(
        f"/api/v1/reminders/{reminder_id}/deliveries", headers=firm.headers
    )
    assert listed.status_code == 200, listed.text
    return {(d["to_address"], d["channel"]): d for d in listed.json()["items"]}


async def test_a_bounced_email_goes_out_once_by_sms_instead(firm: Firm) -> None:
    reminder_id, message_ids = await emailed_reminder(firm)
    bounce = dsn(message_ids["ada"])

    response = await post_bounce(firm.http, bounce)

    assert response.status_code == 202, response.text
    await firm.env.sleep(timedelta(minutes=5))
    [text] = firm.twilio.messages
    assert text.to == ADA_PHONE
    assert "please send your payroll documents" in text.body
    # The same bounce again (mail servers retry their posts), also by basic auth: no more.
    assert (await post_bounce(firm.http, bounce)).status_code == 202
    assert (await post_bounce(firm.http, bounce, basic=True)).status_code == 202
    await firm.env.sleep(timedelta(minutes=5))
    assert len(firm.twilio.messages) == 1

    rows = await deliveries(firm, reminder_id)
    ada = rows[("ada@example.com", "email")]
    assert (ada["status"], ada["error_code"]) == ("undelivered", "5.1.1")
    assert "Recipient unknown" in ada["error_message"]
    assert rows[("bob@example.com", "email")]["status"] == "sent"  # Bob's mail is untouched
    sms = rows[(ADA_PHONE, "sms")]
    assert (sms["fallback_from"], sms["resend_of"], sms["status"]) == ("email", ada["id"], "sent")
    assert (BOB_PHONE, "sms") not in rows
    assert len(await app_events(firm.http.app, "delivery.fallback_requested")) == 1  # type: ignore[attr-defined]
    assert len(await app_events(firm.http.app, "delivery.bounced")) == 1  # type: ignore[attr-defined]


async def test_delayed_reports_and_reports_about_other_messages_change_nothing(
    firm: Firm,
) -> None:
    reminder_id, message_ids = await emailed_reminder(firm)
    before = await deliveries(firm, reminder_id)
    bob_id = message_ids["bob"].strip("<>").split("@")[0]
    reports = [
        # Still trying: not a failure.
        dsn(message_ids["ada"], action="delayed", status="4.4.1"),
        # A temporary failure, whatever the action says.
        dsn(message_ids["ada"], action="failed", status="4.2.2", whole_message=True),
        # Bob's delivery id at another domain: not a message we sent.
        dsn(f"<{bob_id}@elsewhere.example>", recipient="bob@example.com"),
        # A message nobody here sent.
        dsn("<nobody-sent-this@example.org>"),
    ]
    for report in reports:
        response = await post_bounce(firm.http, report)
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "accepted"}  # matched or not: the same
    # Not the secret, or none: refused, and the hard bounce it carries is not read.
    hard = dsn(message_ids["bob"], recipient="bob@example.com")
    assert (await post_bounce(firm.http, hard, secret="not-the-secret")).status_code == 401
    assert (await post_bounce(firm.http, hard, secret="wrong", basic=True)).status_code == 401
    assert (await post_bounce(firm.http, hard, secret=None)).status_code == 401
    await firm.env.sleep(timedelta(minutes=5))

    assert firm.twilio.messages == []
    assert await deliveries(firm, reminder_id) == before
    assert await app_events(firm.http.app, "delivery.bounced") == []  # type: ignore[attr-defined]


async def test_a_bounce_while_temporal_is_down_falls_back_once_temporal_answers(
    firm: Firm,
) -> None:
    reminder_id, message_ids = await emailed_reminder(firm)
    bounce = dsn(message_ids["ada"])

    with temporal_down(firm):
        response = await post_bounce(firm.http, bounce)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}  # as when Temporal answers
    await firm.env.sleep(timedelta(minutes=5))
    assert firm.twilio.messages == []
    ada = (await deliveries(firm, reminder_id))[("ada@example.com", "email")]
    assert ada["status"] == "undelivered"
    assert await marker(firm, ada["id"]) == ("sms", True)

    await age_markers(firm)
    assert await sweep(firm) == 1
    await firm.env.sleep(timedelta(minutes=5))
    assert await sweep(firm) == 0
    assert (await post_bounce(firm.http, bounce)).status_code == 202
    await firm.env.sleep(timedelta(minutes=5))

    [text] = firm.twilio.messages
    assert text.to == ADA_PHONE
    sms = (await deliveries(firm, reminder_id))[(ADA_PHONE, "sms")]
    assert (sms["fallback_from"], sms["resend_of"], sms["status"]) == ("email", ada["id"], "sent")
    assert len(await app_events(firm.http.app, "delivery.fallback_requested")) == 1  # type: ignore[attr-defined]
