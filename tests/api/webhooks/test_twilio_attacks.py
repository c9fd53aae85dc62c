"""Attacks on what tenants share through Twilio, as an owner of an open-registration account
would try them: claim another business's Twilio account SID (under enough throwaway
businesses to push the real owner's webhooks out), or claim the platform's shared number
so that a client's STOP opts them out of the attacker's messages only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.crypto import encrypt
from core.models import Business, SenderIdentity, TwilioCredentials
from core.types import utcnow
from tests.builders.twilio import (
    CLIENT_PHONE,
    SHARED_NUMBER,
    TWILIO_INBOUND_URL,
    TWILIO_STATUS_URL,
    add_phone_client,
    add_sender,
    add_sms_delivery,
    delivery_of,
    inbound_params,
    opted_out,
    post_signed,
    post_signed_by,
    sid,
    status_params,
    stored_twilio_credentials,
)
from tests.conftest import Tenant, settings_changed
from tests.fakes.twilio_api import FakeTwilio

VICTIM_ACCOUNT = "AC" + "7f" * 16
VICTIM_TOKEN = "c0ffee00" * 4
ATTACKER_TOKEN = "deadbeef" * 4
PLATFORM_SERVICE = "MG" + "11" * 16


@pytest.fixture(autouse=True)
def victim_account(twilio_cloud: FakeTwilio) -> None:
    twilio_cloud.add_account(VICTIM_ACCOUNT, VICTIM_TOKEN)


# -- crowding out another business's webhooks ---------------------------------------------


async def test_another_business_twilio_account_cannot_be_saved_without_its_token(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    mine = await client.put(
        "/api/v1/business/twilio",
        headers=owner.headers,
        json={"account_sid": VICTIM_ACCOUNT, "auth_token": VICTIM_TOKEN},
    )
    assert mine.status_code == 201, mine.text
    claimed = await client.put(
        "/api/v1/business/twilio",
        headers=other_owner.headers,
        json={"account_sid": VICTIM_ACCOUNT, "auth_token": ATTACKER_TOKEN},
    )
    assert claimed.status_code == 422, claimed.text
    assert ATTACKER_TOKEN not in claimed.text
    assert await stored_twilio_credentials(app, other_owner.business_id) is None


async def test_any_number_of_businesses_naming_an_account_cannot_crowd_out_its_owner(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    saved = await client.put(
        "/api/v1/business/twilio",
        headers=owner.headers,
        json={"account_sid": VICTIM_ACCOUNT, "auth_token": VICTIM_TOKEN},
    )
    assert saved.status_code == 201, saved.text
    # 25 throwaway businesses claiming the SID with tokens of their own (rows that predate
    # the check at save), listed before the owner's whatever order the rows are read in.
    async with app.state.sessionmaker() as session:
        for n in range(1, 26):
            business = Business(id=uuid.UUID(int=n), name=f"Throwaway {n}", timezone="UTC")
            session.add(business)
            session.add(
                TwilioCredentials(
                    id=uuid.UUID(int=n),
                    business_id=business.id,
                    account_sid=VICTIM_ACCOUNT,
                    auth_token_encrypted=encrypt(f"{n:032x}", app.state.settings),
                )
            )
        await session.commit()
    customer = await add_phone_client(client, owner)
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)

    params = status_params(message, "delivered", AccountSid=VICTIM_ACCOUNT)
    response = await post_signed_by(client, VICTIM_TOKEN, TWILIO_STATUS_URL, params)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "updated"
    assert (await delivery_of(client, owner, reminder_id))["status"] == "delivered"


# -- STOP on the shared number ------------------------------------------------------------


@pytest.fixture
def shared_senders(app: Any) -> Iterator[None]:
    """The platform sends from SHARED_NUMBER and a messaging service of its own."""
    with settings_changed(
        app, TWILIO_FROM_NUMBER=SHARED_NUMBER, TWILIO_MESSAGING_SERVICE_SID=PLATFORM_SERVICE
    ):
        yield


@pytest.mark.parametrize(
    "identity",
    [
        {"channel": "sms", "from_number": SHARED_NUMBER},
        {"channel": "whatsapp", "from_number": SHARED_NUMBER},
        {"channel": "sms", "messaging_service_sid": PLATFORM_SERVICE},
    ],
)
async def test_no_business_may_claim_the_platform_shared_sender(
    client: httpx.AsyncClient, owner: Tenant, shared_senders: None, identity: dict[str, str]
) -> None:
    created = await client.post("/api/v1/sender-identities", headers=owner.headers, json=identity)
    assert created.status_code == 422, created.text
    assert "shared" in created.json()["detail"]

    own = await client.post(
        "/api/v1/sender-identities",
        headers=owner.headers,
        json={"channel": identity["channel"], "from_number": "+447400123450"},
    )
    assert own.status_code == 201, own.text
    moved = await client.patch(
        f"/api/v1/sender-identities/{own.json()['id']}", headers=owner.headers, json=identity
    )
    assert moved.status_code == 422, moved.text
    listed = await client.get("/api/v1/sender-identities", headers=owner.headers)
    assert [i["from_number"] for i in listed.json()["items"]] == ["+447400123450"]


async def test_an_unverified_identity_cannot_narrow_a_stop_to_its_business(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    """The attacker names a number it has not proven; a STOP to it is treated as one to a
    number nobody owns here: the client is opted out in every business that has them."""
    await add_sender(client, other_owner, "sms", "+447400123499")  # never verified
    victims_client = await add_phone_client(client, owner)
    attackers_client = await add_phone_client(client, other_owner)

    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("STOP", to="+447400123499"))

    assert await opted_out(client, owner, victims_client) == ["sms"]
    assert await opted_out(client, other_owner, attackers_client) == ["sms"]


async def test_a_stop_to_the_shared_number_opts_out_everywhere_even_if_a_business_claims_it(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, shared_senders: None
) -> None:
    # A row from before the rule, even marked verified, claiming the shared number.
    async with app.state.sessionmaker() as session:
        session.add(
            SenderIdentity(
                business_id=uuid.UUID(other_owner.business_id),
                channel="sms",
                from_number=SHARED_NUMBER,
                is_default=True,
                verified_at=utcnow(),
            )
        )
        await session.commit()
    victims_client = await add_phone_client(client, owner, phone=CLIENT_PHONE)
    attackers_client = await add_phone_client(client, other_owner, phone=CLIENT_PHONE)

    await post_signed(client, TWILIO_INBOUND_URL, inbound_params("STOP", to=SHARED_NUMBER))

    assert await opted_out(client, owner, victims_client) == ["sms"]
    assert await opted_out(client, other_owner, attackers_client) == ["sms"]
