"""Twilio's webhooks, signed exactly as Twilio signs them: delivery status callbacks move a
delivery forward only, and inbound STOP / START / HELP act on the right clients."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from api.main import create_app
from core.settings import Settings
from tests.builders.twilio import (
    CLIENT_PHONE,
    SHARED_NUMBER,
    TWILIO_INBOUND_URL,
    TWILIO_STATUS_URL,
    add_phone_client,
    add_sender,
    add_sms_delivery,
    app_events,
    delivery_of,
    inbound_params,
    opted_out,
    post_signed,
    sid,
    status_params,
    twilio_signature,
)
from tests.conftest import PUBLIC_BASE_URL, Tenant


@pytest.fixture
async def customer(client: httpx.AsyncClient, owner: Tenant) -> str:
    return await add_phone_client(client, owner)


# -- status callbacks ----------------------------------------------------------------------


async def test_signed_status_callback_marks_a_sent_message_delivered(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)

    response = await post_signed(client, TWILIO_STATUS_URL, status_params(message, "delivered"))

    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": "updated"}
    delivery = await delivery_of(client, owner, reminder_id)
    assert delivery["status"] == "delivered"
    assert delivery["delivered_at"] is not None
    assert delivery["error_code"] is None


async def test_failed_callback_records_twilio_error_code(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    params = status_params(
        message, "failed", ErrorCode="30003", ErrorMessage="Unreachable destination handset"
    )

    assert (await post_signed(client, TWILIO_STATUS_URL, params)).status_code == 200

    delivery = await delivery_of(client, owner, reminder_id)
    assert delivery["status"] == "failed"
    assert delivery["error_code"] == "30003"
    assert delivery["error_message"] == "Unreachable destination handset"
    assert await opted_out(client, owner, customer) == []


async def test_unsubscribed_error_opts_the_client_out_of_that_channel(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)

    response = await post_signed(
        client, TWILIO_STATUS_URL, status_params(message, "failed", ErrorCode="21610")
    )

    assert response.status_code == 200
    assert (await delivery_of(client, owner, reminder_id))["error_code"] == "21610"
    assert await opted_out(client, owner, customer) == ["sms"]
    [(subject, payload)] = await app_events(app, "client.opted_out")
    assert subject == customer
    assert "twilio_error_21610" in str(payload)


def _forgeries(message: str) -> list[tuple[str, dict[str, str]]]:
    params = status_params(message, "delivered")
    other = status_params(message, "sent")
    return [
        ("forged", {"X-Twilio-Signature": "bm90IGEgcmVhbCBzaWduYXR1cmU="}),
        ("missing", {}),
        ("other params", {"X-Twilio-Signature": twilio_signature(PUBLIC_BASE_URL + TWILIO_STATUS_URL, other)}),
        ("other url", {"X-Twilio-Signature": twilio_signature("https://evil.example" + TWILIO_STATUS_URL, params)}),
        ("other path", {"X-Twilio-Signature": twilio_signature(PUBLIC_BASE_URL + TWILIO_INBOUND_URL, params)}),
        ("other token", {"X-Twilio-Signature": RequestValidator("wrong").compute_signature(
            PUBLIC_BASE_URL + TWILIO_STATUS_URL, params
        )}),
    ]  # fmt: skip


async def test_badly_signed_status_callbacks_are_403_and_change_nothing(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    before = await delivery_of(client, owner, reminder_id)

    for case, headers in _forgeries(message):
        response = await client.post(
            TWILIO_STATUS_URL, data=status_params(message, "delivered"), headers=headers
        )
        assert response.status_code == 403, case
        assert response.json()["detail"], case

    assert await delivery_of(client, owner, reminder_id) == before


async def test_signature_must_cover_the_query_string(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    reminder_id, delivery_id = await add_sms_delivery(
        app, owner, customer, status="failed", error_code="outcome_unknown"
    )
    params = status_params(sid(), "delivered")
    # Signed for the bare URL, sent with a delivery_id an attacker appended.
    headers = {"X-Twilio-Signature": twilio_signature(PUBLIC_BASE_URL + TWILIO_STATUS_URL, params)}

    response = await client.post(
        f"{TWILIO_STATUS_URL}?delivery_id={delivery_id}", data=params, headers=headers
    )

    assert response.status_code == 403
    assert (await delivery_of(client, owner, reminder_id))["status"] == "failed"


async def test_without_an_auth_token_every_callback_is_403(
    settings: Settings, client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    unconfigured = create_app(settings.model_copy(update={"TWILIO_AUTH_TOKEN": None}))
    transport = httpx.ASGITransport(app=unconfigured)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            response = await post_signed(
                other, TWILIO_STATUS_URL, status_params(message, "delivered")
            )
    finally:
        await unconfigured.state.engine.dispose()

    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN" in response.json()["detail"]
    assert (await delivery_of(client, owner, reminder_id))["status"] == "sent"


async def test_replayed_callback_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    params = status_params(message, "delivered")
    await post_signed(client, TWILIO_STATUS_URL, params)
    first = await delivery_of(client, owner, reminder_id)

    again = await post_signed(client, TWILIO_STATUS_URL, params)

    assert again.status_code == 200
    assert again.json() == {"outcome": "unchanged"}
    assert await delivery_of(client, owner, reminder_id) == first


async def test_late_sent_after_delivered_is_ignored(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    await post_signed(client, TWILIO_STATUS_URL, status_params(message, "delivered"))
    delivered = await delivery_of(client, owner, reminder_id)

    for late in ("queued", "sending", "sent", "failed", "undelivered"):
        response = await post_signed(
            client, TWILIO_STATUS_URL, status_params(message, late, ErrorCode="1")
        )
        assert response.json() == {"outcome": "unchanged"}, late

    assert await delivery_of(client, owner, reminder_id) == delivered


async def test_read_receipt_keeps_a_whatsapp_message_delivered(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    message = sid()
    reminder_id, _ = await add_sms_delivery(
        app, owner, customer, provider_message_id=message, channel="whatsapp"
    )
    await post_signed(client, TWILIO_STATUS_URL, status_params(message, "read"))
    await post_signed(client, TWILIO_STATUS_URL, status_params(message, "delivered"))

    assert (await delivery_of(client, owner, reminder_id))["status"] == "delivered"


async def test_outcome_unknown_is_healed_by_the_callback_for_its_delivery_id(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    # The worker lost Twilio's answer: no sid recorded, status "failed / outcome_unknown".
    reminder_id, delivery_id = await add_sms_delivery(
        app,
        owner,
        customer,
        status="failed",
        error_code="outcome_unknown",
        error_message="No answer from Twilio",
    )
    message = sid()

    response = await post_signed(
        client, f"{TWILIO_STATUS_URL}?delivery_id={delivery_id}", status_params(message, "sent")
    )

    assert response.json() == {"outcome": "updated"}
    healed = await delivery_of(client, owner, reminder_id)
    assert healed["status"] == "sent"
    assert healed["provider_message_id"] == message
    assert healed["sent_at"] is not None
    assert healed["error_code"] is None
    assert healed["error_message"] is None
    # Later reports find it by its sid now.
    await post_signed(client, TWILIO_STATUS_URL, status_params(message, "delivered"))
    assert (await delivery_of(client, owner, reminder_id))["status"] == "delivered"


async def test_delivery_id_of_a_row_with_another_sid_is_not_touched(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    mine = sid()
    reminder_id, delivery_id = await add_sms_delivery(
        app, owner, customer, provider_message_id=mine
    )
    before = await delivery_of(client, owner, reminder_id)

    response = await post_signed(
        client, f"{TWILIO_STATUS_URL}?delivery_id={delivery_id}", status_params(sid(), "failed")
    )

    assert response.json() == {"outcome": "unknown_message"}
    assert await delivery_of(client, owner, reminder_id) == before


async def test_unknown_sid_is_200_and_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=sid())
    before = await delivery_of(client, owner, reminder_id)

    response = await post_signed(client, TWILIO_STATUS_URL, status_params(sid(), "delivered"))

    assert response.status_code == 200
    assert response.json() == {"outcome": "unknown_message"}
    assert await delivery_of(client, owner, reminder_id) == before


async def test_skipped_delivery_is_never_changed_by_a_callback(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    reminder_id, delivery_id = await add_sms_delivery(
        app, owner, customer, status="skipped", error_code="opted_out"
    )
    response = await post_signed(
        client, f"{TWILIO_STATUS_URL}?delivery_id={delivery_id}", status_params(sid(), "delivered")
    )

    assert response.json() == {"outcome": "unchanged"}
    assert (await delivery_of(client, owner, reminder_id))["status"] == "skipped"


@pytest.mark.parametrize(
    ("params", "outcome"),
    [
        ({}, "ignored"),
        ({"MessageSid": "SM1"}, "ignored"),
        ({"MessageStatus": "delivered"}, "unknown_message"),
        ({"MessageSid": "SM1", "MessageStatus": "receiving"}, "ignored"),
        ({"MessageSid": "S" * 5000, "MessageStatus": "delivered"}, "unknown_message"),
    ],
)
async def test_odd_but_signed_status_callbacks_are_200_no_ops(
    client: httpx.AsyncClient, params: dict[str, str], outcome: str
) -> None:
    response = await post_signed(client, f"{TWILIO_STATUS_URL}?delivery_id=not-a-uuid", params)

    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": outcome}


async def test_bodies_that_are_not_twilio_forms_are_4xx_with_detail(
    client: httpx.AsyncClient,
) -> None:
    sign = {"X-Twilio-Signature": twilio_signature(PUBLIC_BASE_URL + TWILIO_STATUS_URL, {})}
    as_json = await client.post(TWILIO_STATUS_URL, json={"MessageSid": "SM1"}, headers=sign)
    not_utf8 = await client.post(
        TWILIO_STATUS_URL,
        content=b"Body=%ff%fe",
        headers={**sign, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with_nul = await post_signed(
        client, TWILIO_STATUS_URL, {"MessageSid": "SM\x00", "MessageStatus": "sent"}
    )

    assert as_json.status_code == 415
    assert not_utf8.status_code == 400
    assert with_nul.status_code == 400
    for response in (as_json, not_utf8, with_nul):
        assert response.json()["detail"]


# -- inbound messages ----------------------------------------------------------------------


async def test_stop_opts_the_client_out_and_records_an_event(
    client: httpx.AsyncClient, owner: Tenant, customer: str, app: Any
) -> None:
    response = await post_signed(client, TWILIO_INBOUND_URL, inbound_params("  Stop \n"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Response" in response.text
    assert "<Message" not in response.text
    assert await opted_out(client, owner, customer) == ["sms"]
    [(subject, payload)] = await app_events(app, "client.opted_out")
    assert subject == customer
    assert "sms" in str(payload)


async def test_start_opts_the_client_back_in(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    customer = await add_phone_client(client, owner, opted_out_channels=["sms", "email"])

    response = await post_signed(client, TWILIO_INBOUND_URL, inbound_params("START"))

    assert response.status_code == 200
    assert await opted_out(client, owner, customer) == ["email"]
    assert len(await app_events(app, "client.opted_in")) == 1


async def test_help_replies_with_the_business_name(
    client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    await add_sender(client, owner, "sms", "+447400123456")

    response = await post_signed(
        client, TWILIO_INBOUND_URL, inbound_params("help", to="+447400123456")
    )

    assert response.status_code == 200
    assert "<Message>" in response.text
    assert "Acme Accounting" in response.text
    assert "Reply DONE when done, STOP to unsubscribe, START to resubscribe." in response.text
    assert await opted_out(client, owner, customer) == []


@pytest.mark.parametrize(
    "body", ["Cancel my appointment please", "Yes see you then", "Thanks!", "", "stopwatch"]
)
async def test_everyday_replies_change_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, body: str
) -> None:
    customer = await add_phone_client(client, owner, opted_out_channels=["email"])

    response = await post_signed(client, TWILIO_INBOUND_URL, inbound_params(body))

    assert response.status_code == 200
    assert "<Message" not in response.text
    assert await opted_out(client, owner, customer) == ["email"]


async def test_stop_followed_by_words_still_opts_out(
    client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("STOP texting me!"))

    assert await opted_out(client, owner, customer) == ["sms"]


async def test_whatsapp_message_opens_the_session_and_stop_opts_out_of_whatsapp_only(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    # No WhatsApp number of its own: the client's phone is used for WhatsApp.
    by_phone = await add_phone_client(client, owner)
    other = await add_phone_client(
        client, owner, name="Bob", phone="+447911000000", whatsapp=CLIENT_PHONE
    )

    await post_signed(
        client, TWILIO_INBOUND_URL, inbound_params("Hello there", sender=f"whatsapp:{CLIENT_PHONE}")
    )

    async with app.state.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, whatsapp_session_at FROM clients"))
        sessions = {str(uuid.UUID(str(row[0]))): row[1] for row in rows}
    assert sessions[by_phone] is not None
    assert sessions[other] is not None

    await post_signed(
        client, TWILIO_INBOUND_URL, inbound_params("stop", sender=f"whatsapp:{CLIENT_PHONE}")
    )

    assert await opted_out(client, owner, by_phone) == ["whatsapp"]
    assert await opted_out(client, owner, other) == ["whatsapp"]


async def test_stop_to_one_business_number_leaves_another_business_client_alone(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_sender(client, owner, "sms", "+447400123456", verified_in=app)
    await add_sender(client, other_owner, "sms", "+447400123457", verified_in=app)
    acme_client = await add_phone_client(client, owner)
    rival_client = await add_phone_client(client, other_owner)

    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("STOP", to="+447400123456"))

    assert await opted_out(client, owner, acme_client) == ["sms"]
    assert await opted_out(client, other_owner, rival_client) == []


async def test_stop_to_the_shared_number_opts_out_in_every_business(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    await add_sender(client, owner, "sms", "+447400123456")
    acme_client = await add_phone_client(client, owner)
    rival_client = await add_phone_client(client, other_owner)
    stranger = await add_phone_client(client, other_owner, name="Carol", phone="+447911123458")

    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("unsubscribe", to=SHARED_NUMBER))

    assert await opted_out(client, owner, acme_client) == ["sms"]
    assert await opted_out(client, other_owner, rival_client) == ["sms"]
    assert await opted_out(client, other_owner, stranger) == []


async def test_badly_signed_inbound_stop_is_403_and_changes_nothing(
    client: httpx.AsyncClient, owner: Tenant, customer: str
) -> None:
    params = inbound_params("STOP")
    response = await client.post(
        TWILIO_INBOUND_URL, data=params, headers={"X-Twilio-Signature": "x"}
    )

    assert response.status_code == 403
    assert await opted_out(client, owner, customer) == []


async def test_inbound_without_a_sender_is_an_empty_answer(client: httpx.AsyncClient) -> None:
    response = await post_signed(client, TWILIO_INBOUND_URL, {"Body": "STOP"})

    assert response.status_code == 200
    assert "<Message" not in response.text
