"""A business's own Twilio account, end to end on the time-skipping server: business X
sends its SMS and WhatsApp through its own account (its token, its messaging service),
business Y (none) through the platform's; the token is decrypted only inside the send
activity, so neither Temporal's history nor any database row ever holds it in clear."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson
from sqlalchemy import update

from core.crypto import encrypt
from core.models import Reminder, SenderIdentity, TwilioCredentials
from core.settings import Settings
from tests.conftest import TWILIO_SID, TWILIO_TOKEN
from tests.fakes.twilio_api import FakeTwilio
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

X_SID = "AC" + "a1" * 16
X_TOKEN = "c0ffee" + "0123456789abcdef0123456789"  # 32 hex characters
X_SERVICE = "MG" + "b2" * 16
X_WHATSAPP = "+447911000777"
PLATFORM_NUMBER = "+15005550006"
LONDON = "Europe/London"


@dataclass
class World:
    env: Any
    settings: Settings
    task_queue: str
    x: Seeded  # with its own Twilio account
    y: Seeded  # without: the platform's
    twilio: FakeTwilio

    async def reminder(self, seed: Seeded, channels: tuple[str, ...]) -> Reminder:
        now = (await self.env.get_current_time()).astimezone(UTC)
        return await add_reminder(
            seed,
            {"kind": "once", "at": (now + timedelta(hours=1)).isoformat()},
            body="Hi {{ client.name }}, your VAT return is due.",
            channels=channels,
        )

    async def change_credentials(self, **values: Any) -> None:
        """Change X's stored Twilio credentials."""
        async with self.x.sessionmaker() as session:
            await session.execute(
                update(TwilioCredentials)
                .where(TwilioCredentials.business_id == self.x.business_id)
                .values(**values)
            )
            await session.commit()

    async def run(self, *rows: Reminder) -> None:
        await run_to_end(self.env, self.settings, self.task_queue, self.x.sessionmaker, rows)


def own_account(settings: Settings, token: str) -> Callable[[uuid.UUID], Any]:
    return lambda business_id: TwilioCredentials(
        business_id=business_id,
        account_sid=X_SID,
        auth_token_encrypted=encrypt(token, settings),
        messaging_service_sid=X_SERVICE,
    )


def whatsapp_sender(business_id: uuid.UUID) -> SenderIdentity:
    return SenderIdentity(
        business_id=business_id, channel="whatsapp", from_number=X_WHATSAPP, is_default=True
    )


@pytest.fixture
async def world(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(FakeTwilio(TWILIO_SID, TWILIO_TOKEN))
        twilio.add_account(X_SID, X_TOKEN)
        x = await stack.enter_async_context(
            seeded_business(
                database_url, "X", LONDON, own_account(settings, X_TOKEN), whatsapp_sender
            )
        )
        y = await stack.enter_async_context(seeded_business(database_url, "Y", LONDON))
        yield World(
            env=temporal_time_skipping,
            settings=settings.model_copy(
                update={
                    "SMS_BACKEND": "twilio",
                    "WHATSAPP_BACKEND": "twilio",
                    "TWILIO_API_BASE_URL": twilio.url,
                    "TWILIO_FROM_NUMBER": PLATFORM_NUMBER,
                    "TWILIO_WHATSAPP_FROM": PLATFORM_NUMBER,
                    "TWILIO_TIMEOUT_SECONDS": 5.0,
                }
            ),
            task_queue=f"own-twilio-{uuid.uuid4().hex[:8]}",
            x=x,
            y=y,
            twilio=twilio,
        )


async def test_each_business_texts_through_its_own_account_and_no_token_leaks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the Twilio SDK logs every request at INFO
    row_x = await world.reminder(world.x, ("sms", "whatsapp"))
    row_y = await world.reminder(world.y, ("sms",))
    await world.run(row_x, row_y)

    by_account: dict[str, list[Any]] = {}
    for message in world.twilio.messages:
        by_account.setdefault(message.account_sid, []).append(message)
    own, platform = by_account[X_SID], by_account[TWILIO_SID]
    assert sorted(m.to for m in own) == [BOB["phone"], f"whatsapp:{BOB['phone']}"]
    [sms] = [m for m in own if not m.to.startswith("whatsapp:")]
    [whatsapp] = [m for m in own if m.to.startswith("whatsapp:")]
    # SMS: the business's own messaging service (it has no SMS sender identity); never
    # the platform's number, which belongs to another account.
    assert sms.messaging_service_sid == X_SERVICE
    assert sms.from_ is None
    assert whatsapp.from_ == f"whatsapp:{X_WHATSAPP}"
    assert "your VAT return is due" in (sms.body or "")
    [y_sms] = platform
    assert y_sms.from_ == PLATFORM_NUMBER
    assert y_sms.to == BOB["phone"]
    # Each request was authenticated with its own account's token.
    auths = {r.auth for r in world.twilio.requests}
    assert auths == {(X_SID, X_TOKEN), (TWILIO_SID, TWILIO_TOKEN)}
    assert sorted(d.status for d in await deliveries_of(world.x, row_x)) == ["sent", "sent"]
    assert [d.status for d in await deliveries_of(world.y, row_y)] == ["sent"]

    runs = await fetch_runs(world.env.client, row_x.workflow_id)
    history = "\n".join(MessageToJson(event) for run in runs for event in run)
    assert "send_sms" in history
    assert "send_whatsapp" in history
    assert X_TOKEN not in history
    assert X_TOKEN not in await database_dump(world.x.sessionmaker)
    basic = base64.b64encode(f"{X_SID}:{X_TOKEN}".encode()).decode()
    assert "Messages.json" in caplog.text  # the requests were logged, without the token
    assert X_TOKEN not in caplog.text
    assert basic not in caplog.text


async def test_a_refused_token_fails_the_delivery_at_once_and_nothing_goes_another_way(
    world: World,
) -> None:
    await world.change_credentials(auth_token_encrypted=encrypt("f" * 32, world.settings))
    row = await world.reminder(world.x, ("sms",))
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert delivery.status == "failed"
    assert delivery.error_code == "twilio_auth"
    assert X_SID in (delivery.error_message or "")
    assert delivery.attempts == 1  # not retried: a retry cannot fix a wrong token
    assert world.twilio.messages == []  # never quietly sent through the platform's account
    assert [r.status for r in world.twilio.requests] == [401]


async def test_without_a_messaging_service_or_sender_sms_fails_clearly(world: World) -> None:
    await world.change_credentials(messaging_service_sid=None)
    row = await world.reminder(world.x, ("sms",))
    await world.run(row)

    [delivery] = await deliveries_of(world.x, row)
    assert delivery.status == "failed"
    assert delivery.error_code == "no_sender"
    assert world.twilio.requests == []  # the platform's number was not borrowed
