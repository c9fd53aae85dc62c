"""A business's own Twilio account (`/business/twilio`): saved by owners, its auth token
encrypted and never shown, checked against a local Twilio that holds several accounts,
used to check the webhooks Twilio signs with it, and re-encrypted by key rotation."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from core.crypto import SecretUnreadable, decrypt, rotate_stored_secrets
from core.models import TwilioCredentials
from core.settings import Settings
from tests.builders.twilio import (
    TWILIO_INBOUND_URL,
    TWILIO_STATUS_URL,
    add_phone_client,
    add_sms_delivery,
    delivery_of,
    opted_out,
    post_signed_by,
    sid,
    status_params,
    stored_twilio_credentials,
)
from tests.conftest import TWILIO_SID, TWILIO_TOKEN, Tenant, app_client, register_tenant
from tests.fakes.twilio_api import FakeTwilio
from tests.seed import database_dump

URL = "/api/v1/business/twilio"
ACCOUNT = "AC" + "5e" * 16
TOKEN = "0badc0de" * 4  # 32 hex characters, as Twilio's
SERVICE = "MG" + "7a" * 16
PHONE = "+447911123456"


def body(**fields: Any) -> dict[str, Any]:
    return {"account_sid": ACCOUNT, "auth_token": TOKEN, **fields}


async def save(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> httpx.Response:
    return await http.put(URL, headers=tenant.headers, json=body(**fields))


@pytest.fixture(autouse=True)
def account_in_twilio(twilio_cloud: FakeTwilio) -> None:
    """The account these tests save exists in the session's (local) Twilio, with its
    messaging service: saving asks Twilio whether the token opens it."""
    twilio_cloud.add_account(ACCOUNT, TOKEN)
    twilio_cloud.add_service(ACCOUNT, SERVICE)


async def seal_token(app: Any, business_id: str, key: Fernet) -> None:
    """Store the business's token as if `key` had encrypted it."""
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(TwilioCredentials)
            .where(TwilioCredentials.business_id == uuid.UUID(business_id))
            .values(auth_token_encrypted=key.encrypt(TOKEN.encode()).decode())
        )
        await session.commit()


# -- saving and reading ------------------------------------------------------------------


async def test_saved_credentials_answer_without_the_token_and_store_it_encrypted(
    client: httpx.AsyncClient, owner: Tenant, app: Any, settings: Settings
) -> None:
    response = await save(client, owner, messaging_service_sid=SERVICE)
    assert response.status_code == 201, response.text
    assert response.json()["account_sid"] == ACCOUNT
    assert response.json()["messaging_service_sid"] == SERVICE
    assert response.json()["has_auth_token"] is True
    assert TOKEN not in response.text

    read = await client.get(URL, headers=owner.headers)
    assert read.status_code == 200
    assert read.json()["account_sid"] == ACCOUNT
    assert TOKEN not in read.text
    row = await stored_twilio_credentials(app, owner.business_id)
    assert row is not None
    assert decrypt(row.auth_token_encrypted, settings) == TOKEN
    # Nowhere in the database in clear: not the row, not the audit log.
    dump = await database_dump(app.state.sessionmaker)
    assert ACCOUNT in dump
    assert TOKEN not in dump
    events = await client.get("/api/v1/events", headers=owner.headers)
    assert "twilio_credentials.created" in events.text
    assert TOKEN not in events.text


async def test_the_token_may_be_left_out_only_to_keep_it_for_the_same_account(
    client: httpx.AsyncClient, owner: Tenant, app: Any, settings: Settings
) -> None:
    assert (await save(client, owner)).status_code == 201
    kept = await client.put(
        URL, headers=owner.headers, json={"account_sid": ACCOUNT, "messaging_service_sid": SERVICE}
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["messaging_service_sid"] == SERVICE
    row = await stored_twilio_credentials(app, owner.business_id)
    assert row is not None
    assert decrypt(row.auth_token_encrypted, settings) == TOKEN

    other = "AC" + "99" * 16
    refused = await client.put(URL, headers=owner.headers, json={"account_sid": other})
    assert refused.status_code == 422
    assert "auth_token" in refused.json()["detail"]
    after = await stored_twilio_credentials(app, owner.business_id)
    assert after is not None
    assert after.account_sid == ACCOUNT


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"account_sid": "SK" + "5e" * 16}, "account_sid"),
        ({"account_sid": "AC123"}, "account_sid"),
        ({"auth_token": "not-a-token"}, "auth_token"),
        ({"auth_token": TOKEN + "00"}, "auth_token"),
        ({"messaging_service_sid": "MG123"}, "messaging_service_sid"),
        ({"from_number": "+15005550006"}, "from_number"),
    ],
)
async def test_bad_credentials_are_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient, owner: Tenant, app: Any, fields: dict[str, Any], named: str
) -> None:
    response = await save(client, owner, **fields)
    assert response.status_code == 422
    assert named in response.json()["detail"]
    if "auth_token" in fields:
        assert fields["auth_token"] not in response.text  # never echoed
    assert await stored_twilio_credentials(app, owner.business_id) is None


async def test_members_read_but_only_owners_change_or_test(
    client: httpx.AsyncClient, owner: Tenant, member: Tenant, app: Any
) -> None:
    assert (await client.get(URL, headers=member.headers)).status_code == 404
    assert (await save(client, member)).status_code == 403
    assert await stored_twilio_credentials(app, owner.business_id) is None
    assert (await save(client, owner)).status_code == 201
    assert (await client.get(URL, headers=member.headers)).json()["account_sid"] == ACCOUNT
    assert (await client.delete(URL, headers=member.headers)).status_code == 403
    assert (await client.post(f"{URL}/test", headers=member.headers)).status_code == 403
    assert await stored_twilio_credentials(app, owner.business_id) is not None


async def test_each_business_sees_and_removes_only_its_own(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    assert (await save(client, owner)).status_code == 201
    assert (await client.get(URL, headers=other_owner.headers)).status_code == 404
    assert (await client.delete(URL, headers=other_owner.headers)).status_code == 404
    assert await stored_twilio_credentials(app, owner.business_id) is not None

    assert (await client.delete(URL, headers=owner.headers)).status_code == 204
    missing = await client.get(URL, headers=owner.headers)
    assert missing.status_code == 404
    assert "platform" in missing.json()["detail"]
    assert (await client.delete(URL, headers=owner.headers)).status_code == 404


# -- testing them against Twilio ---------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
        fake.add_account(ACCOUNT, TOKEN)
        fake.add_service(ACCOUNT, SERVICE)
        yield fake


def twilio_at(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(
        update={"TWILIO_API_BASE_URL": base_url, "TWILIO_TIMEOUT_SECONDS": 3.0}
    )


@pytest.fixture
async def http(settings: Settings, twilio: FakeTwilio) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose Twilio is the local one."""
    async with app_client(twilio_at(settings, twilio.url)) as client:
        yield client


async def test_the_test_fetches_the_account_and_service_and_sends_nothing(
    http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    boss = await register_tenant(http, "Acme")
    assert (await save(http, boss, messaging_service_sid=SERVICE)).status_code == 201
    response = await http.post(f"{URL}/test", headers=boss.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True
    assert result["account_status"] == "active"
    assert ACCOUNT[-6:] in result["account_name"]
    assert [r.auth for r in twilio.requests] == []  # fetches are not recorded sends
    assert twilio.messages == []


async def test_a_token_or_service_twilio_refuses_is_422_and_stores_nothing(
    http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    boss = await register_tenant(http, "Acme")
    wrong = "1234abcd" * 4
    refused = await save(http, boss, auth_token=wrong)
    assert refused.status_code == 422, refused.text
    assert "auth_token" in refused.json()["detail"]
    assert "401" in refused.json()["detail"]
    assert wrong not in refused.text
    assert await stored_twilio_credentials(http.app, boss.business_id) is None  # type: ignore[attr-defined]

    unknown = "MG" + "00" * 16
    missing = await save(http, boss, messaging_service_sid=unknown)
    assert missing.status_code == 422, missing.text
    assert "messaging_service_sid" in missing.json()["detail"]
    assert await stored_twilio_credentials(http.app, boss.business_id) is None  # type: ignore[attr-defined]


async def test_a_token_revoked_since_is_reported_by_stage_without_the_token(
    http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    boss = await register_tenant(http, "Acme")
    assert (await save(http, boss, messaging_service_sid=SERVICE)).status_code == 201
    twilio.add_account(ACCOUNT, "feedface" * 4)  # the owner rotated the token at Twilio
    refused = (await http.post(f"{URL}/test", headers=boss.headers)).json()
    assert refused["ok"] is False
    assert refused["stage"] == "auth"
    assert "401" in refused["error"]
    assert TOKEN not in refused["error"]

    twilio.add_account(ACCOUNT, TOKEN)
    del twilio.services[SERVICE]  # the service was deleted at Twilio
    missing = (await http.post(f"{URL}/test", headers=boss.headers)).json()
    assert missing["ok"] is False
    assert missing["stage"] == "messaging_service"
    assert "404" in missing["error"]


async def test_a_suspended_account_is_not_ok_though_its_token_works(
    http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    boss = await register_tenant(http, "Acme")
    assert (await save(http, boss)).status_code == 201
    twilio.account_status[ACCOUNT] = "suspended"
    result = (await http.post(f"{URL}/test", headers=boss.headers)).json()
    assert result["ok"] is False
    assert result["stage"] == "auth"
    assert result["account_status"] == "suspended"
    assert "suspended" in result["error"]


async def test_an_unreachable_twilio_is_a_connect_failure_not_a_500(
    http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    boss = await register_tenant(http, "Acme")
    assert (await save(http, boss)).status_code == 201
    await twilio.stop()  # an outage
    try:
        response = await http.post(f"{URL}/test", headers=boss.headers)
        again = await save(http, boss, messaging_service_sid=SERVICE)
    finally:
        await twilio.start()
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["stage"] == "connect"
    # Saving cannot be checked either: 503, and the stored account is kept as it was.
    assert again.status_code == 503, again.text
    row = await stored_twilio_credentials(http.app, boss.business_id)  # type: ignore[attr-defined]
    assert row is not None
    assert row.messaging_service_sid is None


async def test_with_twilio_nowhere_to_be_found_nothing_is_saved(settings: Settings) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with app_client(twilio_at(settings, f"http://127.0.0.1:{port}")) as http:
        boss = await register_tenant(http, "Acme")
        response = await save(http, boss)
        assert response.status_code == 503, response.text
        assert "nothing was saved" in response.json()["detail"]
        assert await stored_twilio_credentials(http.app, boss.business_id) is None  # type: ignore[attr-defined]


async def test_a_token_no_key_opens_answers_409_not_500(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    assert (await save(client, owner)).status_code == 201
    other_key = Fernet(Fernet.generate_key())
    await seal_token(app, owner.business_id, other_key)
    response = await client.post(f"{URL}/test", headers=owner.headers)
    assert response.status_code == 409
    assert "ENCRYPTION_KEYS" in response.json()["detail"]


# -- webhooks signed with a business's token ---------------------------------------------


async def test_a_status_callback_signed_by_the_business_token_updates_its_delivery(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    assert (await save(client, owner)).status_code == 201
    customer = await add_phone_client(client, owner)
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    params = status_params(message, "delivered", AccountSid=ACCOUNT)

    forged = await post_signed_by(client, "feed" * 8, TWILIO_STATUS_URL, params)
    assert forged.status_code == 403
    assert (await delivery_of(client, owner, reminder_id))["status"] == "sent"

    response = await post_signed_by(client, TOKEN, TWILIO_STATUS_URL, params)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "updated"
    assert (await delivery_of(client, owner, reminder_id))["status"] == "delivered"


async def test_a_business_token_cannot_touch_another_business_delivery(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant, app: Any
) -> None:
    # The owner's business knows its own token; the other business's delivery went out
    # through the platform. A callback signed with the owner's token must not reach it.
    assert (await save(client, owner)).status_code == 201
    theirs = await add_phone_client(client, other_owner)
    message = sid()
    reminder_id, delivery_id = await add_sms_delivery(
        app, other_owner, theirs, provider_message_id=message
    )
    for path in (TWILIO_STATUS_URL, f"{TWILIO_STATUS_URL}?delivery_id={delivery_id}"):
        params = status_params(message, "failed", AccountSid=ACCOUNT, ErrorCode="30003")
        response = await post_signed_by(client, TOKEN, path, params)
        assert response.status_code == 200
        assert response.json()["outcome"] == "unknown_message"
    assert (await delivery_of(client, other_owner, reminder_id))["status"] == "sent"


async def test_stop_to_a_business_own_account_opts_out_only_its_client(
    client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    assert (await save(client, owner)).status_code == 201
    ours = await add_phone_client(client, owner, phone=PHONE)
    theirs = await add_phone_client(client, other_owner, phone=PHONE)
    params = {
        "AccountSid": ACCOUNT,
        "From": PHONE,
        "To": "+15005550099",  # the business's own number: no sender identity names it
        "Body": "STOP",
        "MessageSid": sid(),
    }
    response = await post_signed_by(client, TOKEN, TWILIO_INBOUND_URL, params)
    assert response.status_code == 200, response.text
    assert await opted_out(client, owner, ours) == ["sms"]
    assert await opted_out(client, other_owner, theirs) == []


async def test_the_platform_token_still_signs_for_every_business(
    client: httpx.AsyncClient, owner: Tenant, app: Any
) -> None:
    assert (await save(client, owner)).status_code == 201
    customer = await add_phone_client(client, owner)
    message = sid()
    reminder_id, _ = await add_sms_delivery(app, owner, customer, provider_message_id=message)
    params = status_params(message, "delivered")
    response = await post_signed_by(client, TWILIO_TOKEN, TWILIO_STATUS_URL, params)
    assert response.json()["outcome"] == "updated"
    assert (await delivery_of(client, owner, reminder_id))["status"] == "delivered"


# -- key rotation -------------------------------------------------------------------------


async def test_rotating_keys_reencrypts_twilio_tokens_too(
    client: httpx.AsyncClient, owner: Tenant, app: Any, settings: Settings
) -> None:
    assert (await save(client, owner)).status_code == 201
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    only_a = settings.model_copy(update={"ENCRYPTION_KEYS": key_a})
    only_b = settings.model_copy(update={"ENCRYPTION_KEYS": key_b})
    b_then_a = settings.model_copy(update={"ENCRYPTION_KEYS": f"{key_b},{key_a}"})
    # Stored under key A, as if A had been the key all along.
    await seal_token(app, owner.business_id, Fernet(key_a))

    report = await rotate_stored_secrets(app.state.sessionmaker, b_then_a)
    assert (report.rotated, report.current) == (1, 0)
    row = await stored_twilio_credentials(app, owner.business_id)
    assert row is not None
    assert decrypt(row.auth_token_encrypted, only_b) == TOKEN
    with pytest.raises(SecretUnreadable):
        decrypt(row.auth_token_encrypted, only_a)
