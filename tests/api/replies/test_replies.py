"""What clients write back, through signed inbound webhooks: an everyday message is stored
once as a reply of the receiving business's client, linked to the latest message that
reached them, listed in the inbox with an unread count and marked read; keywords are not
replies, and no other business ever sees one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from core.types import utcnow
from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.builders.twilio import (
    TWILIO_INBOUND_URL,
    add_phone_client,
    add_sender,
    app_events,
    inbound_params,
    post_signed,
)
from tests.conftest import Tenant

REPLIES_URL = "/api/v1/replies"
ACME_NUMBER = "+447400123456"


async def text_in(http: httpx.AsyncClient, body: str, **params: str) -> dict[str, str]:
    """Twilio's inbound webhook, signed; answered with no message to the client."""
    sent = inbound_params(body, **params)
    response = await post_signed(http, TWILIO_INBOUND_URL, sent)
    assert response.status_code == 200, response.text
    assert ElementTree.fromstring(response.text).find("Message") is None
    return sent


async def inbox(http: httpx.AsyncClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = await http.get(REPLIES_URL, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sent_to(app: Any, tenant: Tenant, client_id: str, ago: timedelta) -> tuple[str, str]:
    """A reminder and one SMS of it that reached the client `ago`; their ids."""
    reminder = await add_reminder_row(app, tenant, client_ids=[client_id], channels=["sms"])
    delivery = await add_delivery_row(
        app, tenant, reminder, created_at=utcnow() - ago, channel="sms", client_id=client_id
    )
    return reminder, delivery


async def test_an_everyday_reply_is_stored_linked_to_the_latest_delivery_and_read(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    customer = await add_phone_client(client, owner)
    await sent_to(app, owner, customer, timedelta(days=30))
    reminder, delivery = await sent_to(app, owner, customer, timedelta(hours=1))
    # A failed message never reached them: not what they answer.
    await add_delivery_row(
        app,
        owner,
        reminder,
        created_at=utcnow(),
        status="failed",
        channel="sms",
        client_id=customer,
    )

    await text_in(client, "  Sent the receipts by post yesterday  ")

    listed = await inbox(client, owner)
    assert (listed["total"], listed["unread_count"]) == (1, 1)
    (reply,) = listed["items"]
    assert reply["body"] == "Sent the receipts by post yesterday"
    assert (reply["client_id"], reply["client_name"]) == (customer, "Alice Jones")
    assert (reply["channel"], reply["from_number"]) == ("sms", "+447911123456")
    assert (reply["delivery_id"], reply["reminder_id"]) == (delivery, reminder)
    assert reply["read_at"] is None
    assert [e[0] for e in await app_events(app, "reply.received")] == [reply["id"]]
    assert (await inbox(client, owner, unread="true"))["total"] == 1
    assert (await inbox(client, owner, reminder_id=reminder))["total"] == 1

    read = await client.post(f"{REPLIES_URL}/{reply['id']}/read", headers=owner.headers)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    after = await inbox(client, owner)
    assert (after["total"], after["unread_count"]) == (1, 0)
    assert (await inbox(client, owner, unread="true"))["items"] == []


async def test_a_reply_with_nothing_sent_before_is_kept_unlinked_and_long_text_is_cut(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await add_phone_client(client, owner)

    await text_in(client, "x" * 2000)

    (reply,) = (await inbox(client, owner))["items"]
    assert (reply["delivery_id"], reply["reminder_id"]) == (None, None)
    assert len(reply["body"]) == 1600


async def test_a_retried_webhook_stores_the_reply_once(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await add_phone_client(client, owner)
    params = inbound_params("Can we move the meeting?")

    for _ in range(2):
        response = await post_signed(client, TWILIO_INBOUND_URL, params)
        assert response.status_code == 200, response.text

    assert (await inbox(client, owner))["total"] == 1


@pytest.mark.parametrize("body", ["STOP", "help", "DONE", "start", "Done, sent it"])
async def test_keywords_are_not_replies(
    client: httpx.AsyncClient, owner: Tenant, body: str
) -> None:
    await add_phone_client(client, owner)

    response = await post_signed(client, TWILIO_INBOUND_URL, inbound_params(body))

    assert response.status_code == 200, response.text
    listed = await inbox(client, owner)
    assert (listed["total"], listed["unread_count"]) == (0, 0)


async def test_a_message_from_an_unknown_number_is_no_reply(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await add_phone_client(client, owner)

    await text_in(client, "Who is this?", sender="+447911999999")

    assert (await inbox(client, owner))["total"] == 0


async def test_another_business_cannot_list_or_read_a_reply(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_phone_client(client, owner)
    await text_in(client, "Thanks, will do")
    (reply,) = (await inbox(client, owner))["items"]

    assert (await inbox(client, other_owner))["total"] == 0
    refused = await client.post(f"{REPLIES_URL}/{reply['id']}/read", headers=other_owner.headers)
    missing = await client.post(f"{REPLIES_URL}/{owner.business_id}/read", headers=owner.headers)
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    everything = await client.post(f"{REPLIES_URL}/read-all", headers=other_owner.headers)
    assert everything.json() == {"marked": 0}
    assert (await inbox(client, owner))["unread_count"] == 1


async def test_a_reply_to_one_business_number_reaches_only_that_business(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_phone_client(client, owner)
    await add_phone_client(client, other_owner)  # the same person, a client of both firms
    await add_sender(client, owner, "sms", ACME_NUMBER, verified_in=app)

    await text_in(client, "Is the deadline Friday?", to=ACME_NUMBER)

    assert (await inbox(client, owner))["total"] == 1
    assert (await inbox(client, other_owner))["total"] == 0


async def test_a_reply_to_the_shared_number_reaches_each_business_of_the_number(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_phone_client(client, owner)
    await add_phone_client(client, other_owner)

    await text_in(client, "Is the deadline Friday?")

    for tenant in (owner, other_owner):
        listed = await inbox(client, tenant)
        assert (listed["total"], listed["unread_count"]) == (1, 1)


async def test_read_all_marks_every_unread_reply_of_the_business(
    client: httpx.AsyncClient, owner: Tenant
) -> None:
    await add_phone_client(client, owner)
    for body in ("One", "Two"):
        await text_in(client, body)

    marked = await client.post(f"{REPLIES_URL}/read-all", headers=owner.headers)

    assert marked.json() == {"marked": 2}
    assert (await inbox(client, owner))["unread_count"] == 0


async def test_a_whatsapp_reply_answers_the_latest_whatsapp_message_not_an_sms(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    customer = await add_phone_client(client, owner)
    reminder = await add_reminder_row(app, owner, client_ids=[customer], channels=["whatsapp"])
    delivery = await add_delivery_row(
        app,
        owner,
        reminder,
        created_at=utcnow() - timedelta(hours=2),
        channel="whatsapp",
        client_id=customer,
    )
    await sent_to(app, owner, customer, timedelta(hours=1))  # a later SMS

    await text_in(client, "Got it 👍", sender="whatsapp:+447911123456")

    (reply,) = (await inbox(client, owner))["items"]
    assert (reply["channel"], reply["body"]) == ("whatsapp", "Got it 👍")
    assert (reply["delivery_id"], reply["reminder_id"]) == (delivery, reminder)
