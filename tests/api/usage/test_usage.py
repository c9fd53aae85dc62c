"""Usage for billing: messages handed to a provider per channel in a month of the
business's time zone, with the SMS segments the provider reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryBook
from activities.send import send_activity_for
from channels.twilio_messages import TwilioProvider
from core.models import Delivery
from core.ratelimit import LocalRateLimiter
from core.settings import Settings
from tests.builders.rows import JULY, add_reminder_row, add_sent
from tests.conftest import TWILIO_SID, TWILIO_TOKEN, Tenant, register_tenant, superuser_headers
from tests.fakes.twilio_api import FakeTwilio
from workflows.contracts import SendRequest

URL = "/api/v1/usage"
LONDON = ZoneInfo("Europe/London")


async def usage(http: httpx.AsyncClient, headers: dict[str, str], month: str) -> Any:
    response = await http.get(URL, headers=headers, params={"month": month})
    assert response.status_code == 200, response.text
    return response.json()


async def test_usage_counts_messages_handed_to_a_provider_by_channel(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    reminder = await add_reminder_row(app, owner)
    for status in ("delivered", "delivered", "sent"):
        await add_sent(app, owner, reminder, status=status)
    await add_sent(app, owner, reminder, status="failed")  # accepted, then failed: billed
    await add_sent(app, owner, reminder, status="failed", accepted=False)  # refused
    await add_sent(app, owner, reminder, status="pending", accepted=False)
    await add_sent(app, owner, reminder, status="skipped", accepted=False)
    await add_sent(app, owner, reminder, channel="sms", status="delivered", segments=2)
    await add_sent(app, owner, reminder, channel="sms", status="undelivered", segments=3)
    await add_sent(app, owner, reminder, channel="sms", status="sent")  # segments unknown
    await add_sent(app, owner, reminder, channel="whatsapp", status="delivered")
    # Another month, and another business: not counted.
    await add_sent(app, owner, reminder, at=JULY + timedelta(days=31), segments=5)
    await add_sent(app, owner, reminder, at=JULY - timedelta(days=31), channel="sms", segments=5)
    rival = await add_reminder_row(app, other_owner)
    await add_sent(app, other_owner, rival, channel="sms", segments=4)

    body = await usage(client, owner.headers, "2026-07")
    assert body["month"] == "2026-07"
    assert body["timezone"] == "Europe/London"
    assert body["by_channel"] == {
        "email": {"messages": 4, "verification_codes": 0},
        "sms": {"messages": 3, "segments": 5, "verification_codes": 0},
        "whatsapp": {"messages": 1, "verification_codes": 0},
    }
    assert body["total_messages"] == 8
    rival_body = await usage(client, other_owner.headers, "2026-07")
    assert rival_body["by_channel"]["sms"] == {
        "messages": 1,
        "segments": 4,
        "verification_codes": 0,
    }
    assert rival_body["total_messages"] == 1


async def test_month_boundaries_are_the_business_time_zone(
    app: Any, client: httpx.AsyncClient
) -> None:
    tokyo = await register_tenant(client, "Tokyo", timezone="Asia/Tokyo")
    reminder = await add_reminder_row(app, tokyo)
    # 1 July 00:30 in Tokyo is still 30 June in UTC; 1 August 00:30 in Tokyo is 31 July UTC.
    await add_sent(app, tokyo, reminder, at=datetime(2026, 6, 30, 15, 30, tzinfo=UTC))
    await add_sent(app, tokyo, reminder, at=datetime(2026, 7, 31, 15, 30, tzinfo=UTC))
    await add_sent(app, tokyo, reminder, at=datetime(2026, 6, 30, 14, 59, tzinfo=UTC))
    july = await usage(client, tokyo.headers, "2026-07")
    assert july["by_channel"]["email"]["messages"] == 1
    assert july["starts_at"] == "2026-06-30T15:00:00Z"
    assert july["ends_at"] == "2026-07-31T15:00:00Z"
    assert (await usage(client, tokyo.headers, "2026-08"))["total_messages"] == 1
    assert (await usage(client, tokyo.headers, "2026-06"))["total_messages"] == 1


async def test_a_bad_month_is_422_saying_so(client: httpx.AsyncClient, owner: Tenant) -> None:
    for bad in ("2026-13", "2026-7", "July", "2026-00", "26-07", "２０２６-07"):
        response = await client.get(URL, headers=owner.headers, params={"month": bad})
        assert response.status_code == 422, (bad, response.text)
        assert "month" in response.json()["detail"]


async def test_without_a_month_it_is_the_current_one(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    before = datetime.now(LONDON).strftime("%Y-%m")
    response = await client.get(URL, headers=owner.headers)
    after = datetime.now(LONDON).strftime("%Y-%m")
    assert response.status_code == 200
    assert response.json()["month"] in (before, after)  # London's month, not UTC's
    assert response.json()["total_messages"] == 0


async def test_superusers_see_one_business_or_every_business(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_sent(app, owner, await add_reminder_row(app, owner), channel="sms", segments=2)
    await add_sent(app, other_owner, await add_reminder_row(app, other_owner), channel="whatsapp")
    root = await superuser_headers(app, client)
    one = await usage(client, {**root, "X-Business-Id": owner.business_id}, "2026-07")
    assert one["by_channel"]["sms"] == {"messages": 1, "segments": 2, "verification_codes": 0}
    listing = await client.get("/api/v1/admin/usage", headers=root, params={"month": "2026-07"})
    assert listing.status_code == 200, listing.text
    rows = {row["business_id"]: row for row in listing.json()["items"]}
    assert listing.json()["total"] == 2
    assert rows[owner.business_id]["by_channel"]["sms"]["segments"] == 2
    assert rows[owner.business_id]["business_name"] == "Acme Accounting"
    assert rows[other_owner.business_id]["by_channel"]["whatsapp"]["messages"] == 1
    refused = await client.get("/api/v1/admin/usage", headers=owner.headers)
    assert refused.status_code == 403


async def test_a_twilio_send_stores_its_segments_and_they_are_billed(
    app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Settings
) -> None:
    made = await client.post(
        "/api/v1/clients",
        headers=owner.headers,
        json={"name": "Bob Builder", "phone": "+447911123456"},
    )
    assert made.status_code == 201, made.text
    client_id = made.json()["id"]
    body = "Hi {{ client.name }}, " + "your VAT return is due soon. " * 7  # over 160: 2 parts
    reminder = await add_reminder_row(
        app, owner, channels=["sms"], client_ids=[client_id], body=body
    )
    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as twilio:
        twilio_settings = settings.model_copy(
            update={
                "SMS_BACKEND": "twilio",
                "TWILIO_API_BASE_URL": twilio.url,
                "TWILIO_FROM_NUMBER": "+15005550006",
            }
        )
        provider = TwilioProvider(twilio_settings, "sms")
        book = DeliveryBook(app.state.sessionmaker, twilio_settings, LocalRateLimiter())
        try:
            result = await ActivityEnvironment().run(
                send_activity_for("sms", book, provider),
                SendRequest(
                    reminder_id=reminder,
                    client_id=client_id,
                    channel="sms",
                    occurrence_key="2026-07-15T12:00:00Z",
                    scheduled_for=datetime.now(UTC).isoformat(),
                ),
            )
        finally:
            await provider.close()
        assert result.status == "sent", result
        [message] = twilio.messages
    assert len(message.body or "") > 160
    async with app.state.sessionmaker() as session:
        stored = (await session.scalars(select(Delivery))).one()
    assert stored.segments == 2
    assert stored.provider_message_id == message.sid
    assert stored.sent_at is not None
    body_usage = await usage(
        client, owner.headers, stored.sent_at.astimezone(LONDON).strftime("%Y-%m")
    )
    assert body_usage["by_channel"]["sms"] == {
        "messages": 1,
        "segments": 2,
        "verification_codes": 0,
    }
