"""A reminder, or the sender identity it sends as, naming one of its business's SMTP servers,
end to end on the time-skipping server: business X has server A (its default) and server B,
business Y has none (the platform's server). Each assertion is what each server received."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from core.crypto import encrypt
from core.models import EmailConfiguration, Reminder, SenderIdentity
from core.settings import Environment, Settings
from tests.fakes.smtp import FakeSmtpServer
from tests.seed import (
    BOB,
    Seeded,
    add_reminder,
    deliveries_of,
    run_to_end,
    seeded_business,
)

LONDON = "Europe/London"
A_ID, B_ID = uuid.uuid4(), uuid.uuid4()
PLATFORM_FROM = "noreply@platform.example.com"


def server(
    settings: Settings, config_id: uuid.UUID, smtp: FakeSmtpServer, name: str, default: bool
) -> Any:
    login = f"{name.lower()}-mailer"
    return lambda business_id: EmailConfiguration(
        id=config_id,
        business_id=business_id,
        name=f"Server {name}",
        host=smtp.host,
        port=smtp.port,
        security="none",
        username=login,
        password_encrypted=encrypt(f"{login}-password", settings),
        from_email=f"{name.lower()}@x.example.com",
        from_name=f"X via {name}",
        is_default=default,
    )


@dataclass
class World:
    env: Any
    settings: Settings
    task_queue: str
    x: Seeded
    y: Seeded
    a: FakeSmtpServer
    b: FakeSmtpServer
    platform: FakeSmtpServer

    async def reminder(self, seed: Seeded, subject: str, hours: int = 1, **fields: Any) -> Reminder:
        now = (await self.env.get_current_time()).astimezone(UTC)
        return await add_reminder(
            seed,
            {"kind": "once", "at": (now + timedelta(hours=hours)).isoformat()},
            subject=subject,
            body="Hi {{ client.name }}, please send your documents.",
            **fields,
        )

    async def run(self, *rows: Reminder, settings: Settings | None = None) -> None:
        await run_to_end(
            self.env, settings or self.settings, self.task_queue, self.x.sessionmaker, rows
        )

    async def add(self, row: Any) -> None:
        async with self.x.sessionmaker() as session:
            session.add(row)
            await session.commit()

    def subjects(self, smtp: FakeSmtpServer) -> list[str]:
        return sorted(str(m.message["Subject"]) for m in smtp.messages)


@pytest.fixture
async def world(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            FakeSmtpServer(username="a-mailer", password="a-mailer-password")
        )
        b = await stack.enter_async_context(
            FakeSmtpServer(username="b-mailer", password="b-mailer-password")
        )
        platform = await stack.enter_async_context(FakeSmtpServer())
        x = await stack.enter_async_context(
            seeded_business(
                database_url,
                "X",
                LONDON,
                server(settings, A_ID, a, "A", default=True),
                server(settings, B_ID, b, "B", default=False),
            )
        )
        y = await stack.enter_async_context(seeded_business(database_url, "Y", LONDON))
        yield World(
            env=temporal_time_skipping,
            settings=settings.model_copy(
                update={
                    **platform.smtp_settings(),
                    "EMAIL_BACKEND": "smtp",
                    "DEFAULT_FROM_EMAIL": PLATFORM_FROM,
                    "SMTP_TIMEOUT_SECONDS": 5.0,
                }
            ),
            task_queue=f"named-config-{uuid.uuid4().hex[:8]}",
            x=x,
            y=y,
            a=a,
            b=b,
            platform=platform,
        )


def identity(business_id: uuid.UUID, verified: bool, config_id: uuid.UUID) -> SenderIdentity:
    return SenderIdentity(
        business_id=business_id,
        channel="email",
        from_email="office@x.example.com",
        from_name="X Office",
        is_default=True,
        verified_at=datetime.now(UTC) if verified else None,
        email_configuration_id=config_id,
    )


async def test_a_reminder_naming_a_server_goes_through_it_and_the_others_do_not(
    world: World,
) -> None:
    named = await world.reminder(world.x, "X through B", email_configuration_id=B_ID)
    default = await world.reminder(world.x, "X through its default")
    other = await world.reminder(world.y, "Y through the platform")
    await world.run(named, default, other)

    [through_b] = world.b.messages
    assert through_b.message["Subject"] == "X through B"
    assert through_b.login == "b-mailer"
    assert through_b.mail_from == "b@x.example.com"
    assert through_b.message["From"] == "X via B <b@x.example.com>"
    assert through_b.rcpt_tos == (BOB["email"],)
    [through_a] = world.a.messages
    assert through_a.message["Subject"] == "X through its default"
    assert through_a.mail_from == "a@x.example.com"
    [through_platform] = world.platform.messages
    assert through_platform.message["Subject"] == "Y through the platform"
    assert through_platform.mail_from == PLATFORM_FROM
    for seed, row in ((world.x, named), (world.x, default), (world.y, other)):
        assert [d.status for d in await deliveries_of(seed, row)] == ["sent"]


async def test_a_sender_identity_naming_a_server_sends_the_business_email_through_it(
    world: World,
) -> None:
    await world.add(identity(world.x.business_id, verified=True, config_id=B_ID))
    plain = await world.reminder(world.x, "As the identity")
    # The reminder's own choice wins over its identity's.
    chosen = await world.reminder(world.x, "Reminder's choice", email_configuration_id=A_ID)
    await world.run(plain, chosen)

    assert world.subjects(world.b) == ["As the identity"]
    assert world.b.messages[0].login == "b-mailer"
    assert world.subjects(world.a) == ["Reminder's choice"]
    assert world.platform.messages == []


async def test_in_production_an_unverified_identity_does_not_choose_the_server(
    world: World,
) -> None:
    await world.add(identity(world.x.business_id, verified=False, config_id=B_ID))
    row = await world.reminder(world.x, "Unverified identity")
    production = world.settings.model_copy(update={"ENV": Environment.production})
    await world.run(row, settings=production)

    assert world.b.messages == []
    assert world.subjects(world.a) == ["Unverified identity"]


async def test_a_deleted_named_server_falls_back_to_the_default(world: World) -> None:
    done = await world.reminder(world.x, "Sent through B", email_configuration_id=B_ID)
    await world.run(done)
    assert world.subjects(world.b) == ["Sent through B"]
    pending = await world.reminder(world.x, "After B was deleted", email_configuration_id=B_ID)
    # Deleted in the database (as when the last live reminder naming it had ended).
    async with world.x.sessionmaker() as session:
        await session.execute(delete(EmailConfiguration).where(EmailConfiguration.id == B_ID))
        await session.commit()
    await world.run(pending)

    assert world.subjects(world.b) == ["Sent through B"]
    assert world.subjects(world.a) == ["After B was deleted"]
    assert world.platform.messages == []
    assert [d.status for d in await deliveries_of(world.x, pending)] == ["sent"]
    async with world.x.sessionmaker() as session:
        for row in (done, pending):
            stored = await session.get(Reminder, row.id)
            assert stored is not None
            assert stored.email_configuration_id is None


async def test_another_business_server_is_never_used(world: World) -> None:
    # Written straight into the row (the API refuses it): Y names X's server B.
    stolen = await world.reminder(world.y, "Y naming X's server", email_configuration_id=B_ID)
    await world.run(stolen)

    assert world.b.messages == []
    assert world.a.messages == []
    [received] = world.platform.messages
    assert received.message["Subject"] == "Y naming X's server"
    assert received.mail_from == PLATFORM_FROM
