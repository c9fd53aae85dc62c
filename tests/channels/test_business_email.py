"""A business's own SMTP server, end to end on the time-skipping server: business X sends
through its default email configuration, business Y (none) through the platform's SMTP
settings; the password is decrypted only inside the send activity, so neither Temporal's
history nor any database row ever holds it in clear."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson
from sqlalchemy import select

from core.crypto import encrypt
from core.models import Client as ClientRow
from core.models import EmailConfiguration, Reminder
from core.settings import Settings
from core.unsubscribe import set_opt_out
from tests.fakes.smtp import FakeSmtpServer
from tests.seed import (
    BOB,
    Seeded,
    add_reminder,
    database_dump,
    deliveries_of,
    run_to_end,
    seeded_business,
)
from workflows.reminder_client import fetch_runs

PASSWORD = "X-Own-Smtp-Pass-Canary-77"
LONDON = "Europe/London"


@dataclass
class World:
    env: Any
    settings: Settings
    task_queue: str
    x: Seeded  # with its own configuration, on `own`
    y: Seeded  # without one: the platform's server, `platform`
    own: FakeSmtpServer
    platform: FakeSmtpServer

    async def reminder(self, seed: Seeded, subject: str) -> Reminder:
        now = (await self.env.get_current_time()).astimezone(UTC)
        return await add_reminder(
            seed,
            {"kind": "once", "at": (now + timedelta(hours=1)).isoformat()},
            subject=subject,
            body="Hi {{ client.name }}, please send your documents.",
        )

    async def run(self, *rows: Reminder) -> None:
        await run_to_end(self.env, self.settings, self.task_queue, self.x.sessionmaker, rows)


def configuration(settings: Settings, server: FakeSmtpServer, password: str) -> Any:
    return lambda business_id: EmailConfiguration(
        business_id=business_id,
        name="Own server",
        host=server.host,
        port=server.port,
        security="none",
        username="x-mailer",
        password_encrypted=encrypt(password, settings),
        from_email="office@x.example.com",
        from_name="X Accountants",
        is_default=True,
    )


@pytest.fixture
async def world(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        own = await stack.enter_async_context(
            FakeSmtpServer(username="x-mailer", password=PASSWORD)
        )
        platform = await stack.enter_async_context(FakeSmtpServer())
        x = await stack.enter_async_context(
            seeded_business(database_url, "X", LONDON, configuration(settings, own, PASSWORD))
        )
        y = await stack.enter_async_context(seeded_business(database_url, "Y", LONDON))
        yield World(
            env=temporal_time_skipping,
            settings=settings.model_copy(
                update={
                    **platform.smtp_settings(),
                    "EMAIL_BACKEND": "smtp",
                    "DEFAULT_FROM_EMAIL": "noreply@platform.example.com",
                    "SMTP_TIMEOUT_SECONDS": 5.0,
                }
            ),
            task_queue=f"email-config-{uuid.uuid4().hex[:8]}",
            x=x,
            y=y,
            own=own,
            platform=platform,
        )


async def test_each_business_sends_through_its_own_server_and_no_password_leaks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    row_x = await world.reminder(world.x, "From X")
    row_y = await world.reminder(world.y, "From Y")
    await world.run(row_x, row_y)

    [own] = world.own.messages
    [platform] = world.platform.messages
    assert own.message["Subject"] == "From X"
    assert own.login == "x-mailer"
    assert own.message["From"] == "X Accountants <office@x.example.com>"
    assert own.rcpt_tos == (BOB["email"],)
    assert platform.message["Subject"] == "From Y"
    assert platform.mail_from == "noreply@platform.example.com"
    assert [d.status for d in await deliveries_of(world.x, row_x)] == ["sent"]
    assert [d.status for d in await deliveries_of(world.y, row_y)] == ["sent"]

    for row in (row_x, row_y):
        runs = await fetch_runs(world.env.client, row.workflow_id)
        assert runs
        history = "\n".join(MessageToJson(event) for run in runs for event in run)
        assert "send_email" in history  # the activity is there, its password is not
        assert PASSWORD not in history
    assert PASSWORD not in await database_dump(world.x.sessionmaker)
    # Nor in any log line (AUTH PLAIN / LOGIN carry it base64-encoded).
    plain = base64.b64encode(f"\0x-mailer\0{PASSWORD}".encode()).decode()
    assert "delivery" in caplog.text
    assert PASSWORD not in caplog.text
    assert plain not in caplog.text
    assert base64.b64encode(PASSWORD.encode()).decode() not in caplog.text


async def test_a_wrong_password_fails_the_delivery_at_once_with_smtp_auth(
    world: World,
) -> None:
    async with world.x.sessionmaker() as session:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == world.x.business_id
        )
        stored = (await session.scalars(stmt)).one()
        stored.password_encrypted = encrypt("Not-The-Password", world.settings)
        await session.commit()
    row = await world.reminder(world.x, "From X")
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert delivery.status == "failed"
    assert delivery.error_code == "smtp_auth"
    assert "Own server" in (delivery.error_message or "")
    assert delivery.attempts == 1  # not retried: a retry cannot fix a wrong password
    assert world.own.messages == []
    assert world.platform.messages == []  # never quietly sent another way


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_business_server_at_a_private_address_is_never_connected_to(
    world: World, host: str
) -> None:
    """As in production (public addresses only): a configuration whose host is, or now
    resolves to, a private address fails its delivery without a connection to it."""
    async with world.x.sessionmaker() as session:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == world.x.business_id
        )
        (await session.scalars(stmt)).one().host = host
        await session.commit()
    world.settings = world.settings.model_copy(update={"ALLOW_PRIVATE_DESTINATIONS": False})
    row = await world.reminder(world.x, "From X")
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert (delivery.status, delivery.error_code) == ("failed", "destination_refused")
    assert "public internet" in (delivery.error_message or "")
    assert world.own.attempts == 0
    assert world.own.auth_attempts == []
    assert world.platform.messages == []  # never quietly sent another way


async def test_a_business_server_refusal_is_recorded_without_its_words(world: World) -> None:
    world.own.fail_next(1, 554, "5.7.1 SECRET-PEER-TEXT of an internal service", at="mail")
    row = await world.reminder(world.x, "From X")
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert (delivery.status, delivery.error_code) == ("failed", "smtp_554")
    assert "554" in (delivery.error_message or "")
    assert "SECRET-PEER-TEXT" not in (delivery.error_message or "")


async def test_a_stored_from_name_with_a_line_break_is_sent_on_one_line(world: World) -> None:
    """A row from before names had to be one line: the send neither fails after its claim
    (an unknown outcome) nor carries an injected header."""
    async with world.x.sessionmaker() as session:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == world.x.business_id
        )
        (await session.scalars(stmt)).one().from_name = "X\r\nBcc: victim@elsewhere.example"
        await session.commit()
    row = await world.reminder(world.x, "Subject\r\nBcc: victim@elsewhere.example")
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert delivery.status == "sent", delivery.error_message
    [message] = world.own.messages
    assert message.rcpt_tos == (BOB["email"],)
    assert message.message["Bcc"] is None
    assert "\n" not in message.message["Subject"]


async def test_no_email_goes_to_an_address_that_unsubscribed_on_another_record(
    world: World,
) -> None:
    """Bob unsubscribed; staff then added him again as a second client record (the
    suppression of his address follows him there): the reminder to the new record sends
    nothing."""
    async with world.y.sessionmaker() as session:
        bob = await session.get(ClientRow, world.y.client_id)
        assert bob is not None
        await set_opt_out(session, bob, "email", opted_out=True, source="unsubscribe_link")
        again = ClientRow(business_id=world.y.business_id, name="Bob B.", email="BOB@example.com")
        session.add(again)
        await session.commit()
    now = (await world.env.get_current_time()).astimezone(UTC)
    row = await add_reminder(
        world.y,
        {"kind": "once", "at": (now + timedelta(hours=1)).isoformat()},
        body="Hi {{ client.name }}",
        client_ids=[str(again.id)],
    )
    await world.run(row)

    [delivery] = await deliveries_of(world.y, row)
    assert (delivery.status, delivery.error_code) == ("skipped", "opted_out")
    assert world.platform.messages == []
