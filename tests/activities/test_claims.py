"""Who owns a send (activities/claims.py): two attempts of one delivery never both send; a
crash before the point of no return is simply sent again; after it, the provider is asked;
and sends heartbeat so a dead worker's send is retried in seconds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryBook
from api.webhooks.service import StatusReport, apply_status
from channels import build_provider
from channels.providers import OutgoingMessage, Provider, ProviderResult
from core.ratelimit import LocalRateLimiter
from core.settings import Settings
from tests.conftest import TWILIO_SID, TWILIO_TOKEN
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.seed import Seeded, add_reminder, deliveries_of, reminder_input, seeded_business
from workflows.contracts import SendRequest
from workflows.reminder import ReminderWorkflow
from workflows.sending import SEND_HEARTBEAT_TIMEOUT

PLATFORM_NUMBER = "+15005550006"
CHANNELS = ("email", "sms", "whatsapp")


@dataclass
class World:
    seed: Seeded
    settings: Settings
    smtp: FakeSmtpServer
    twilio: FakeTwilio

    async def request(self, channel: str, now: datetime | None = None) -> tuple[Any, SendRequest]:
        at = (now or datetime.now(UTC)) + timedelta(hours=1)
        row = await add_reminder(
            self.seed, {"kind": "once", "at": at.isoformat()}, body="Hi {{ client.name }}"
        )
        key = at.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        return row, SendRequest(
            reminder_id=str(row.id),
            client_id=str(self.seed.client_id),
            channel=channel,
            occurrence_key=key,
            scheduled_for=at.isoformat(),
        )

    async def deliver(self, request: SendRequest, provider: Provider) -> Any:
        book = DeliveryBook(self.seed.sessionmaker, self.settings, LocalRateLimiter())
        return await ActivityEnvironment().run(book.deliver, request, provider)


@pytest.fixture
async def world(settings: Settings, database_url: str) -> AsyncIterator[World]:
    async with (
        seeded_business(database_url, "Claims & Co") as seed,
        FakeSmtpServer() as smtp,
        FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as twilio,
    ):
        yield World(
            seed=seed,
            settings=settings.model_copy(
                update={
                    **smtp.smtp_settings(),
                    "EMAIL_BACKEND": "smtp",
                    "SMS_BACKEND": "twilio",
                    "TWILIO_API_BASE_URL": twilio.url,
                    "TWILIO_FROM_NUMBER": PLATFORM_NUMBER,
                    "TWILIO_TIMEOUT_SECONDS": 1.5,
                    "DEFAULT_FROM_EMAIL": "reminders@platform.example.com",
                }
            ),
            smtp=smtp,
            twilio=twilio,
        )


class DiesBeforeClaim:
    """A real provider whose first call dies before its point of no return (the worker
    killed while it connected and logged in)."""

    def __init__(self, inner: Provider) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionResetError("the worker died before the message went out")
        return await self.inner.send(message)

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return await self.inner.find(message, since)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_crash_before_the_point_of_no_return_sends_again_and_the_email_arrives(
    world: World,
) -> None:
    """Before, the send was claimed before the provider was called, so this retry gave up
    as `outcome_unknown` and the client never got the email."""
    provider = DiesBeforeClaim(build_provider(world.settings, "email"))
    row, request = await world.request("email")
    with pytest.raises(ConnectionResetError):
        await world.deliver(request, provider)

    result = await world.deliver(request, provider)

    assert result.status == "sent", result
    assert len(world.smtp.messages) == 1
    [delivery] = await deliveries_of(world.seed, row)
    assert (delivery.status, delivery.attempts) == ("sent", 1)


async def test_two_attempts_of_one_delivery_never_both_send(world: World) -> None:
    """Two attempts run at once (a worker Temporal gave up on is still alive): whichever
    claims first sends; the other sends nothing (it finds the claim and adopts the message,
    or loses the claim and leaves it to the next attempt)."""
    provider = build_provider(world.settings, "sms")
    row, request = await world.request("sms")
    world.twilio.delay_next(1, 1.0)  # the first request is slow to be answered
    try:
        results = await asyncio.gather(
            world.deliver(request, provider),
            world.deliver(request, provider),
            return_exceptions=True,
        )
    finally:
        await provider.close()

    assert len(world.twilio.messages) == 1, results
    [delivery] = await deliveries_of(world.seed, row)
    assert delivery.status == "sent"
    assert delivery.provider_message_id == world.twilio.messages[0].sid


async def test_sends_heartbeat_so_a_dead_worker_is_noticed_in_seconds(
    world: World, temporal_time_skipping: Any
) -> None:
    """Each send activity is scheduled with a heartbeat timeout (behind a patch, so the
    reminders already running replay as they were), and heartbeats while it works."""
    from tests.conftest import build_worker

    env, queue = temporal_time_skipping, f"claims-{uuid.uuid4().hex[:8]}"
    # Due an hour after the test server's clock, which earlier tests may have moved on.
    row, _ = await world.request("email", await env.get_current_time())
    providers = {channel: build_provider(world.settings, channel) for channel in CHANNELS}
    try:
        async with build_worker(
            env.client, world.settings, queue, world.seed.sessionmaker, providers
        ):
            handle = await env.client.start_workflow(
                ReminderWorkflow.run, reminder_input(row), id=row.workflow_id, task_queue=queue
            )
            await handle.result()
    finally:
        for provider in providers.values():
            await provider.close()
    history = await handle.fetch_history()
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    [send] = [s for s in scheduled if s.activity_type.name == "send_email"]
    assert send.heartbeat_timeout.ToTimedelta() == SEND_HEARTBEAT_TIMEOUT
    assert len(world.smtp.messages) == 1


class CallbackFirst:
    """Twilio's provider whose status callback is handled (by the webhook's own code)
    before the worker records the POST's answer: Twilio can be that quick."""

    def __init__(self, inner: Provider, seed: Seeded, status: str, code: str | None) -> None:
        self.inner, self.name, self.seed = inner, inner.name, seed
        self.status, self.code = status, code

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        sent = await self.inner.send(message)
        report = StatusReport(
            sent.provider_message_id,
            self.status,
            error_code=self.code,
            delivery_id=uuid.UUID(message.delivery_id),
        )
        async with self.seed.sessionmaker() as session:
            assert await apply_status(session, report) == "updated"
            await session.commit()
        return sent

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return await self.inner.find(message, since)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.parametrize(
    ("status", "code", "shown"),
    [("delivered", None, "delivered"), ("undelivered", "30003", "undelivered")],
)
async def test_a_status_callback_that_came_first_is_kept_when_the_send_is_recorded(
    world: World, status: str, code: str | None, shown: str
) -> None:
    """Recording the provider's answer (one statement) does not overwrite what the carrier
    already said, and clears the claim."""
    provider = CallbackFirst(build_provider(world.settings, "sms"), world.seed, status, code)
    row, request = await world.request("sms")
    try:
        result = await world.deliver(request, provider)
    finally:
        await provider.close()

    [message] = world.twilio.messages
    [delivery] = await deliveries_of(world.seed, row)
    assert (result.status, delivery.status, delivery.error_code) == (shown, shown, code)
    assert delivery.provider_message_id == result.provider_message_id == message.sid
    assert delivery.send_started_at is None
    assert delivery.sent_at is not None
    assert (delivery.delivered_at is not None) == (shown == "delivered")
