"""Sender identities prove their address or number with a one-time code, sent for real:
email through an SMTP server on loopback, SMS and WhatsApp through a local Twilio."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryBook
from activities.send import send_activity_for
from channels.providers import OutgoingMessage, ProviderResult
from core.models import SenderIdentity
from core.ratelimit import LocalRateLimiter
from core.settings import Environment, Settings
from tests.builders.apps import (
    IDENTITY_NUMBER,
    OFFICE_EMAIL,
    PLATFORM_EMAIL,
    PLATFORM_NUMBER,
    SENDER_IDENTITIES_URL,
    add_identity,
    verify_identity,
)
from tests.conftest import Tenant, add_member, register_tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.seed import LONDON, add_reminder, seeded_business
from workflows.contracts import SendRequest


async def confirm(
    http: httpx.AsyncClient, tenant: Tenant, identity_id: str, code: str
) -> httpx.Response:
    return await http.post(
        f"{SENDER_IDENTITIES_URL}/{identity_id}/confirm",
        headers=tenant.headers,
        json={"code": code},
    )


def code_in(body: str) -> str:
    match = re.search(r"\b(\d{6})\b", body)
    assert match, body
    return match.group(1)


async def emailed_code(http: httpx.AsyncClient, tenant: Tenant, iid: str, smtp: Any) -> str:
    before = len(smtp.messages)
    response = await verify_identity(http, tenant, iid)
    assert response.status_code == 202, response.text
    received = (await smtp.wait_for(before + 1))[-1]
    code = code_in(received.text)
    assert code not in response.text
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def stored(http: httpx.AsyncClient, identity_id: str) -> SenderIdentity:
    async with http.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = await session.get(SenderIdentity, uuid.UUID(identity_id))
        assert row is not None
        return row


async def test_an_emailed_code_verifies_the_identity_once(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    response = await verify_identity(http, boss, iid)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["sent_to"] == "o***e@acme.example.com"
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    [received] = await smtp.wait_for(1)
    assert received.rcpt_tos == (OFFICE_EMAIL,)
    assert received.mail_from == PLATFORM_EMAIL
    code = code_in(received.text)
    assert code not in response.text
    row = await stored(http, iid)
    assert row.verification_code_hash
    assert code not in row.verification_code_hash

    confirmed = await confirm(http, boss, iid, code)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["verified"] is True
    assert confirmed.json()["verified_at"]
    assert code not in confirmed.text
    assert "verification" not in confirmed.text
    read = await http.get(f"{SENDER_IDENTITIES_URL}/{iid}", headers=boss.headers)
    assert read.json()["verified"] is True

    again = await confirm(http, boss, iid, code)
    assert again.status_code == 400
    assert "No code is pending" in again.json()["detail"]


async def test_five_wrong_codes_kill_the_code_and_a_new_one_works(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    code = await emailed_code(http, boss, iid, smtp)

    for left in (4, 3, 2, 1, 0):
        response = await confirm(http, boss, iid, wrong(code))
        assert response.status_code == 400
        assert response.json()["attempts_left"] == left
    dead = await confirm(http, boss, iid, code)
    assert dead.status_code == 400
    assert "request a new code" in dead.json()["detail"]
    assert (await http.get(f"{SENDER_IDENTITIES_URL}/{iid}", headers=boss.headers)).json()[
        "verified"
    ] is False

    fresh = await emailed_code(http, boss, iid, smtp)
    assert (await confirm(http, boss, iid, fresh)).status_code == 200


async def test_a_new_code_replaces_the_previous_one(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    first = await emailed_code(http, boss, iid, smtp)
    second = await emailed_code(http, boss, iid, smtp)
    if first != second:
        assert (await confirm(http, boss, iid, first)).status_code == 400
    assert (await confirm(http, boss, iid, second)).status_code == 200


async def test_an_expired_code_is_refused(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    code = await emailed_code(http, boss, iid, smtp)
    async with http.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = await session.get(SenderIdentity, uuid.UUID(iid))
        assert row is not None
        row.verification_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()

    response = await confirm(http, boss, iid, code)
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]


async def test_without_a_pending_code_confirm_is_refused(
    http: httpx.AsyncClient, boss: Tenant
) -> None:
    iid = await add_identity(http, boss)
    response = await confirm(http, boss, iid, "123456")
    assert response.status_code == 400
    assert "No code is pending" in response.json()["detail"]
    assert (await confirm(http, boss, iid, "12345")).status_code == 422


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
async def test_a_number_gets_its_code_through_twilio(
    http: httpx.AsyncClient, boss: Tenant, twilio: FakeTwilio, channel: str
) -> None:
    iid = await add_identity(http, boss, channel=channel, from_number=IDENTITY_NUMBER)
    response = await verify_identity(http, boss, iid)

    assert response.status_code == 202, response.text
    assert response.json()["sent_to"] == "+44*******555"
    [message] = await twilio.wait_for(1)
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    assert message.to == f"{prefix}{IDENTITY_NUMBER}"
    assert message.from_ == f"{prefix}{PLATFORM_NUMBER}"
    assert message.body is not None
    code = code_in(message.body)
    assert code not in response.text
    assert (await confirm(http, boss, iid, code)).json()["verified"] is True


async def test_a_messaging_service_identity_has_no_number_to_verify(
    http: httpx.AsyncClient, boss: Tenant
) -> None:
    iid = await add_identity(http, boss, channel="sms", messaging_service_sid="MG" + "ab" * 16)
    response = await verify_identity(http, boss, iid)
    assert response.status_code == 422
    assert "from_number" in response.json()["detail"]


async def test_at_most_five_codes_an_hour(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    for _ in range(5):
        assert (await verify_identity(http, boss, iid)).status_code == 202
    refused = await verify_identity(http, boss, iid)
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert len(await smtp.wait_for(5)) == 5


async def test_a_provider_failure_is_reported_and_nothing_is_pending(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    smtp.reject_recipient(OFFICE_EMAIL, 550, "5.1.1 User unknown")
    refused = await verify_identity(http, boss, iid)
    assert refused.status_code == 502
    assert "smtp_550" in refused.json()["detail"]

    smtp.reset()
    smtp.fail_next(1, 451, "4.3.0 Try again later")
    busy = await verify_identity(http, boss, iid)
    assert busy.status_code == 503
    assert "try again" in busy.json()["detail"]
    assert (await stored(http, iid)).verification_code_hash is None
    assert (await confirm(http, boss, iid, "123456")).json()["detail"].startswith("No code")


async def test_changing_the_address_clears_verified_and_the_pending_code(
    http: httpx.AsyncClient, boss: Tenant, smtp: FakeSmtpServer
) -> None:
    iid = await add_identity(http, boss)
    code = await emailed_code(http, boss, iid, smtp)
    assert (await confirm(http, boss, iid, code)).status_code == 200
    pending = await emailed_code(http, boss, iid, smtp)

    changed = await http.patch(
        f"{SENDER_IDENTITIES_URL}/{iid}",
        headers=boss.headers,
        json={"from_email": "new@acme.example.com"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["verified"] is False
    # The code sent to the old address proves nothing about the new one.
    assert (await confirm(http, boss, iid, pending)).status_code == 400
    renamed = await http.patch(
        f"{SENDER_IDENTITIES_URL}/{iid}", headers=boss.headers, json={"from_name": "X"}
    )
    assert renamed.json()["verified"] is False


async def test_only_the_owner_of_the_identity_may_verify(
    http: httpx.AsyncClient, boss: Tenant
) -> None:
    iid = await add_identity(http, boss)
    rival = await register_tenant(http, "Rival")
    staff = await add_member(http, boss)
    for tenant, status in ((rival, 404), (staff, 403)):
        assert (await verify_identity(http, tenant, iid)).status_code == status
        assert (await confirm(http, tenant, iid, "123456")).status_code == status


# -- production: only verified identities send --------------------------------------------


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        self.messages.append(message)
        return ProviderResult(provider_message_id=f"rec-{len(self.messages)}", status="sent")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("env", "verified", "sent_as_firm"),
    [
        (Environment.production, False, False),
        (Environment.production, True, True),
        (Environment.testing, False, True),
    ],
)
async def test_in_production_an_unverified_sender_gives_way_to_the_platform_sender(
    settings: Settings, database_url: str, env: Environment, verified: bool, sent_as_firm: bool
) -> None:
    verified_at = datetime.now(UTC) if verified else None

    def sender(channel: str, **fields: Any) -> Any:
        return lambda business_id: SenderIdentity(
            business_id=business_id,
            channel=channel,
            is_default=True,
            verified_at=verified_at,
            **fields,
        )

    rows = (sender("email", from_email=OFFICE_EMAIL), sender("sms", from_number=IDENTITY_NUMBER))
    async with seeded_business(database_url, "Acme", LONDON, *rows) as seed:
        reminder = await add_reminder(
            seed, {"kind": "once", "at": "2099-01-01T09:00:00+00:00"}, body="Hi"
        )
        book = DeliveryBook(
            seed.sessionmaker, settings.model_copy(update={"ENV": env}), LocalRateLimiter()
        )
        email, sms = Recording(), Recording()
        for channel, run in (
            ("email", send_activity_for("email", book, email)),
            ("sms", send_activity_for("sms", book, sms)),
        ):
            request = SendRequest(
                reminder_id=str(reminder.id),
                client_id=str(seed.client_id),
                channel=channel,
                occurrence_key="2099-01-01T09:00:00Z",
                scheduled_for="2099-01-01T09:00:00+00:00",
            )
            result = await ActivityEnvironment().run(run, request)
            assert result.status == "sent", result

    [mail], [text_message] = email.messages, sms.messages
    assert mail.from_email == (OFFICE_EMAIL if sent_as_firm else None)  # None: DEFAULT_FROM_EMAIL
    assert text_message.from_number == (IDENTITY_NUMBER if sent_as_firm else None)


def test_the_rule_follows_the_environment_unless_set() -> None:
    def make(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    assert make(ENV="production").require_verified_senders is True
    assert make(ENV="development").require_verified_senders is False
    assert make(ENV="development", REQUIRE_VERIFIED_SENDERS=True).require_verified_senders
