"""Verification codes as a free message cannon: the platform sends them at its own cost,
to an address or number the tenant types. Deleting and re-creating the identity, naming
the number in another business, or spreading codes over many identities must not buy more
codes; and every code shows in the business's usage."""

from __future__ import annotations

import httpx

from tests.builders.apps import (
    IDENTITY_NUMBER,
    SENDER_IDENTITIES_URL,
    add_identity,
    verify_identity,
)
from tests.conftest import Tenant, register_tenant, settings_changed
from tests.fakes.twilio_api import FakeTwilio


async def sms_identity(
    http: httpx.AsyncClient, tenant: Tenant, number: str = IDENTITY_NUMBER
) -> str:
    return await add_identity(http, tenant, channel="sms", from_number=number)


async def test_re_creating_the_identity_does_not_reset_the_codes_a_number_gets(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio
) -> None:
    first = await sms_identity(http, boss)
    for _ in range(5):
        assert (await verify_identity(http, boss, first)).status_code == 202
    assert (
        await http.delete(f"{SENDER_IDENTITIES_URL}/{first}", headers=boss.headers)
    ).status_code == 204

    again = await sms_identity(http, boss)
    refused = await verify_identity(http, boss, again)

    assert refused.status_code == 429, refused.text
    assert "VERIFICATION_CODES_PER_DESTINATION_HOURLY" in refused.json()["detail"]
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert len(twilio.messages) == 5


async def test_another_business_cannot_send_the_same_number_more_codes(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio
) -> None:
    ours = await sms_identity(http, boss)
    for _ in range(5):
        assert (await verify_identity(http, boss, ours)).status_code == 202
    rival = await register_tenant(http, "Rival")
    theirs = await sms_identity(http, rival)

    refused = await verify_identity(http, rival, theirs)

    assert refused.status_code == 429, refused.text
    assert len(twilio.messages) == 5


async def test_a_number_gets_at_most_its_daily_codes_across_hours(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio
) -> None:
    with settings_changed(
        http.app,  # type: ignore[attr-defined]
        VERIFICATION_CODES_PER_DESTINATION_HOURLY=100,
        VERIFICATION_CODES_PER_DESTINATION_DAILY=3,
    ):
        codes = [
            await verify_identity(http, boss, await sms_identity(http, boss)) for _ in range(3)
        ]
        refused = await verify_identity(http, boss, await sms_identity(http, boss))
    assert [r.status_code for r in codes] == [202, 202, 202]
    assert refused.status_code == 429, refused.text
    assert "VERIFICATION_CODES_PER_DESTINATION_DAILY" in refused.json()["detail"]
    assert len(twilio.messages) == 3


async def test_a_business_gets_at_most_its_daily_codes_over_many_numbers(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio
) -> None:
    numbers = [f"+4479110005{n:02d}" for n in range(10, 14)]
    with settings_changed(http.app, VERIFICATION_CODES_PER_BUSINESS_DAILY=3):  # type: ignore[attr-defined]
        codes = [
            await verify_identity(http, boss, await sms_identity(http, boss, n)) for n in numbers
        ]
    assert [r.status_code for r in codes] == [202, 202, 202, 429]
    assert "VERIFICATION_CODES_PER_BUSINESS_DAILY" in codes[-1].json()["detail"]
    assert [m.to for m in twilio.messages] == numbers[:3]


async def test_verification_codes_count_in_the_business_usage(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio
) -> None:
    assert (await verify_identity(http, boss, await add_identity(http, boss))).status_code == 202
    assert (await verify_identity(http, boss, await sms_identity(http, boss))).status_code == 202

    usage = (await http.get("/api/v1/usage", headers=boss.headers)).json()

    assert usage["by_channel"]["email"] == {"messages": 1, "verification_codes": 1}
    assert usage["by_channel"]["sms"]["messages"] == 1
    assert usage["by_channel"]["sms"]["verification_codes"] == 1
    assert usage["total_messages"] == 2
