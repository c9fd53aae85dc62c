"""DONE by SMS or WhatsApp, signed as Twilio signs it: the sender is marked done for the
period of the latest reminder they were sent on that channel, in the receiving business
only, and the running workflow stops sending them that period's messages."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from api.webhooks.done import NOTHING_TO_MARK, TRY_AGAIN
from core.models import Delivery
from core.types import utcnow
from tests.builders.api import REMINDERS_URL, create_reminder, reminder_body, reminder_deliveries
from tests.builders.rows import add_reminder_row
from tests.builders.twilio import (
    CLIENT_PHONE,
    TWILIO_INBOUND_URL,
    add_phone_client,
    add_sender,
    app_events,
    inbound_params,
    post_signed,
)
from tests.conftest import Tenant, eventually

PERIOD = "2027-01-07T09:00:00Z"
EARLIER_PERIOD = "2026-10-07T09:00:00Z"
ACME_NUMBER = "+447400123456"
RIVAL_NUMBER = "+447400123457"


@pytest.fixture
async def customer(client: httpx.AsyncClient, owner: Tenant) -> str:
    return await add_phone_client(client, owner)


async def add_reminder(app: Any, tenant: Tenant, client_id: str, **fields: Any) -> str:
    """A reminder row whose workflow has ended (so no Temporal is needed to mark it)."""
    values = {"client_ids": [client_id], "channels": ["sms"], "status": "completed", **fields}
    return await add_reminder_row(app, tenant, **values)


async def add_sent(
    app: Any,
    tenant: Tenant,
    reminder_id: str,
    client_id: str,
    *,
    period: str | None = PERIOD,
    channel: str = "sms",
    sent_at: datetime | None = None,
    status: str = "delivered",
) -> None:
    """One of the reminder's messages to the client, as the worker leaves it."""
    at = sent_at or utcnow()
    async with app.state.sessionmaker() as session:
        session.add(
            Delivery(
                business_id=uuid.UUID(tenant.business_id),
                reminder_id=uuid.UUID(reminder_id),
                client_id=uuid.UUID(client_id),
                channel=channel,
                occurrence_key=uuid.uuid4().hex,
                status=status,
                attempts=1,
                to_address=CLIENT_PHONE,
                sent_at=at if status in ("sent", "delivered") else None,
                created_at=at - timedelta(seconds=1),
                period=period,
            )
        )
        await session.commit()


async def text_in(
    http: httpx.AsyncClient, body: str, **params: str
) -> tuple[httpx.Response, str | None]:
    """Twilio's inbound webhook, signed; the response and the reply's text (if any)."""
    response = await post_signed(http, TWILIO_INBOUND_URL, inbound_params(body, **params))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    message = ElementTree.fromstring(response.text).find("Message")
    return response, message.text if message is not None else None


async def client_state(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, client_id: str, **params: str
) -> dict[str, Any]:
    response = await http.get(
        f"{REMINDERS_URL}/{reminder_id}/clients", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["client_id"] == client_id]
    return dict(item)


# -- marking -------------------------------------------------------------------------------


async def test_done_marks_the_client_done_for_the_latest_period_and_says_so(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    reminder = await add_reminder(app, owner, customer)
    await add_sent(
        app, owner, reminder, customer, period=EARLIER_PERIOD, sent_at=utcnow() - timedelta(days=90)
    )
    await add_sent(app, owner, reminder, customer)

    _, reply = await text_in(client, "  Done, sent it this morning! ")

    assert reply == "Thanks, Acme Accounting has been told you're done with Q3 VAT return."
    state = await client_state(client, owner, reminder, customer)
    assert state["period"] == PERIOD
    assert state["state"] == "done"
    assert state["done_source"] == "sms"
    assert state["note"] == "Done, sent it this morning!"
    assert state["done_by_user_id"] is None
    earlier = await client_state(client, owner, reminder, customer, period=EARLIER_PERIOD)
    assert earlier["state"] == "outstanding"
    [(subject, payload)] = await app_events(app, "client.done")
    assert subject == reminder
    assert PERIOD in str(payload)


@pytest.mark.parametrize("body", ["DONE", "done", "Done.", " done!\n", "DONE thanks", "done,  ok"])
async def test_done_is_read_like_stop_whatever_its_case_punctuation_or_following_words(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str, body: str
) -> None:
    reminder = await add_reminder(app, owner, customer)
    await add_sent(app, owner, reminder, customer)

    _, reply = await text_in(client, body)

    assert reply is not None
    assert reply.startswith("Thanks, Acme Accounting")
    assert (await client_state(client, owner, reminder, customer))["state"] == "done"


@pytest.mark.parametrize("body", ["I'm done", "doneness", "Not done yet"])
async def test_a_message_that_does_not_start_with_done_marks_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str, body: str
) -> None:
    reminder = await add_reminder(app, owner, customer)
    await add_sent(app, owner, reminder, customer)

    _, reply = await text_in(client, body)

    assert reply is None
    assert (await client_state(client, owner, reminder, customer))["state"] == "outstanding"


async def test_done_marks_only_the_reminder_last_sent(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    older = await add_reminder(app, owner, customer, title="Payroll")
    latest = await add_reminder(app, owner, customer, title="Self assessment")
    await add_sent(app, owner, latest, customer, sent_at=utcnow() - timedelta(hours=1))
    await add_sent(app, owner, older, customer, sent_at=utcnow() - timedelta(days=3))
    # Never sent (failed, or a message of no period): neither says which reminder it is.
    await add_sent(app, owner, older, customer, status="failed")
    await add_sent(app, owner, older, customer, period=None)

    _, reply = await text_in(client, "DONE")

    assert reply == "Thanks, Acme Accounting has been told you're done with Self assessment."
    assert (await client_state(client, owner, latest, customer))["state"] == "done"
    assert (await client_state(client, owner, older, customer))["state"] == "outstanding"


async def test_a_second_done_has_nothing_to_mark_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    older = await add_reminder(app, owner, customer, title="Payroll")
    latest = await add_reminder(app, owner, customer)
    await add_sent(app, owner, older, customer, sent_at=utcnow() - timedelta(days=3))
    await add_sent(app, owner, latest, customer)
    await text_in(client, "DONE first")

    _, reply = await text_in(client, "DONE again")

    assert reply == NOTHING_TO_MARK
    state = await client_state(client, owner, latest, customer)
    assert state["note"] == "DONE first"
    # Not the older reminder either: the client did not say that one.
    assert (await client_state(client, owner, older, customer))["state"] == "outstanding"
    assert len(await app_events(app, "client.done")) == 1


async def test_done_from_a_client_never_messaged_on_that_channel_has_nothing_to_mark(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    reminder = await add_reminder(app, owner, customer, channels=["email"])
    await add_sent(app, owner, reminder, customer, channel="email")

    _, by_sms = await text_in(client, "DONE")
    _, by_stranger = await text_in(client, "DONE", sender="+447911999999")

    assert by_sms == NOTHING_TO_MARK
    assert by_stranger == NOTHING_TO_MARK
    assert await app_events(app, "client.done") == []


async def test_whatsapp_done_marks_the_whatsapp_reminder_with_source_whatsapp(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    by_sms = await add_reminder(app, owner, customer, title="Payroll")
    by_whatsapp = await add_reminder(app, owner, customer, channels=["whatsapp"])
    await add_sent(
        app, owner, by_whatsapp, customer, channel="whatsapp", sent_at=utcnow() - timedelta(days=1)
    )
    await add_sent(app, owner, by_sms, customer)

    _, reply = await text_in(client, "Done", sender=f"whatsapp:{CLIENT_PHONE}")

    assert reply == "Thanks, Acme Accounting has been told you're done with Q3 VAT return."
    state = await client_state(client, owner, by_whatsapp, customer)
    assert state["state"] == "done"
    assert state["done_source"] == "whatsapp"
    assert (await client_state(client, owner, by_sms, customer))["state"] == "outstanding"


async def test_done_to_one_business_number_never_marks_another_business_client(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_sender(client, owner, "sms", ACME_NUMBER, verified_in=app)
    await add_sender(client, other_owner, "sms", RIVAL_NUMBER, verified_in=app)
    acme_client = await add_phone_client(client, owner)
    rival_client = await add_phone_client(client, other_owner)
    acme_reminder = await add_reminder(app, owner, acme_client)
    rival_reminder = await add_reminder(app, other_owner, rival_client, title="Rival's VAT")
    await add_sent(app, owner, acme_reminder, acme_client, sent_at=utcnow() - timedelta(days=2))
    # The rival sent the same number something later.
    await add_sent(app, other_owner, rival_reminder, rival_client)

    _, reply = await text_in(client, "DONE", to=ACME_NUMBER)

    assert reply == "Thanks, Acme Accounting has been told you're done with Q3 VAT return."
    assert (await client_state(client, owner, acme_reminder, acme_client))["state"] == "done"
    rival = await client_state(client, other_owner, rival_reminder, rival_client)
    assert rival["state"] == "outstanding"


async def test_done_to_a_business_number_from_only_another_business_client_marks_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_sender(client, owner, "sms", ACME_NUMBER, verified_in=app)
    rival_client = await add_phone_client(client, other_owner)
    rival_reminder = await add_reminder(app, other_owner, rival_client)
    await add_sent(app, other_owner, rival_reminder, rival_client)

    _, reply = await text_in(client, "DONE", to=ACME_NUMBER)

    assert reply == NOTHING_TO_MARK
    rival = await client_state(client, other_owner, rival_reminder, rival_client)
    assert rival["state"] == "outstanding"
    assert await app_events(app, "client.done") == []


async def test_badly_signed_done_is_403_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    reminder = await add_reminder(app, owner, customer)
    await add_sent(app, owner, reminder, customer)

    response = await client.post(
        TWILIO_INBOUND_URL, data=inbound_params("DONE"), headers={"X-Twilio-Signature": "x"}
    )

    assert response.status_code == 403
    assert (await client_state(client, owner, reminder, customer))["state"] == "outstanding"
    assert await app_events(app, "client.done") == []


async def test_done_while_temporal_is_down_asks_to_try_again_and_records_nothing(
    app: Any, client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    # Still running, so its workflow must hear of it; this app's Temporal is unreachable.
    reminder = await add_reminder(app, owner, customer, status="scheduled")
    await add_sent(app, owner, reminder, customer)

    _, reply = await text_in(client, "DONE")

    assert reply == TRY_AGAIN
    state = await client_state(client, owner, reminder, customer)
    assert state["state"] == "outstanding"
    assert state["done_at"] is None
    assert await app_events(app, "client.done") == []


async def test_help_mentions_done(client: httpx.AsyncClient, owner: Tenant, customer: str) -> None:
    _, reply = await text_in(client, "HELP")

    assert reply is not None
    assert "DONE" in reply


# -- the running workflow --------------------------------------------------------------------


async def test_done_stops_the_running_reminder_sending_to_that_client(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    alice = await add_phone_client(client, owner)
    bob = await add_phone_client(client, owner, name="Bob Smith", phone="+447911000001")
    created = await create_reminder(
        client, owner, reminder_body(channels=["sms"], client_ids=[alice, bob])
    )
    url = f"{REMINDERS_URL}/{created['id']}"

    async def sent_to() -> dict[str, int]:
        counts = {alice: 0, bob: 0}
        for delivery in await reminder_deliveries(client, owner, created["id"]):
            if delivery["status"] in ("sent", "delivered"):
                counts[delivery["client_id"]] += 1
        return counts

    async def rows_for(client_id: str) -> int:
        deliveries = await reminder_deliveries(client, owner, created["id"])
        return sum(1 for delivery in deliveries if delivery["client_id"] == client_id)

    assert (await client.post(f"{url}/trigger", headers=owner.headers)).status_code == 202
    await eventually(lambda: _counts_are(sent_to, {alice: 1, bob: 1}), timeout=15, interval=0.2)

    _, reply = await text_in(client, "done")

    assert reply == "Thanks, Acme Accounting has been told you're done with VAT return."
    state = await client_state(client, owner, created["id"], alice)
    assert state["state"] == "done"
    assert state["done_source"] == "sms"
    assert (await client_state(client, owner, created["id"], bob))["state"] == "outstanding"

    assert (await client.post(f"{url}/trigger", headers=owner.headers)).status_code == 202
    await eventually(lambda: _counts_are(sent_to, {alice: 1, bob: 2}), timeout=15, interval=0.2)
    # Sends of one occurrence go out together: none was even attempted for Alice.
    assert await rows_for(alice) == 1


async def _counts_are(counts: Any, expected: dict[str, int]) -> bool:
    return bool(await counts() == expected)
