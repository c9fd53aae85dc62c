"""Real delivery, end to end: ReminderWorkflow on Temporal's time-skipping server sends
through the real SMTP and Twilio providers to a real SMTP server (aiosmtpd) and a local
server that speaks Twilio's Messages API, both on loopback. Every assertion is what a
client or the business would notice: messages that arrive (or not) and delivery rows."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from channels import build_providers
from channels.providers import OutgoingMessage, Provider, ProviderResult
from core.logging import stamp_request_ids
from core.models import Client as ClientRow
from core.models import SenderIdentity
from core.ratelimit import LocalRateLimiter, RedisRateLimiter
from core.settings import Settings
from tests.builders.delivery import BOB_EMAIL, FIRM_NUMBER, Outbox, outbox, worker
from tests.conftest import PUBLIC_BASE_URL, TWILIO_SID, TWILIO_TOKEN
from tests.fakes.twilio_api import signed_callback
from tests.seed import BOB, add_reminder, deliveries_of, reminder_input, seeded_business
from tests.template_attacks import DOUBLING_MACRO, TIME_BURNER, VALUE_LIMIT
from workflows.reminder import ReminderWorkflow

LONDON = "Europe/London"
BOB_PHONE = BOB["phone"]


@pytest.fixture
async def box(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[Outbox]:
    async with outbox(temporal_time_skipping, settings, database_url) as made:
        yield made


class FailAfterSend:
    """A real provider whose first call fails *after* the provider accepted the message,
    as when a worker dies between the provider's answer and recording it."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        self.calls += 1
        result = await self.inner.send(message)
        if self.calls == 1:
            raise ConnectionResetError("worker lost its connection after the provider answered")
        return result

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return await self.inner.find(message, since)

    async def close(self) -> None:
        await self.inner.close()


class FailAfterClaim(FailAfterSend):
    """A real provider whose first call claims the send and then dies before the request
    goes out, as when a worker is killed between its claim and the provider's port."""

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        self.calls += 1
        if self.calls == 1:
            await message.claim()
            raise ConnectionResetError("worker died after its claim, before the request")
        return await self.inner.send(message)


# -- email ------------------------------------------------------------------------------


async def test_each_occurrence_arrives_once_with_the_firms_sender_and_text(box: Outbox) -> None:
    start = (await box.now() + timedelta(days=1)).replace(microsecond=0)
    row = await box.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY;COUNT=3", "start": start.isoformat()}
    )
    async with worker(box):
        await box.run(row)

    received = box.smtp.messages
    assert len(received) == 3
    deliveries = await box.deliveries(row)
    assert [d.status for d in deliveries] == ["sent"] * 3
    for message, delivery in zip(received, deliveries, strict=True):
        assert message.message["From"] == "Ann & Co Accountants <office@annandco.example.com>"
        assert message.message["Reply-To"] == "ann@annandco.example.com"
        assert message.message["To"] == BOB_EMAIL
        assert message.message["Subject"] == "Your VAT return"
        assert "Hi Bob Builder, please send your VAT documents." in message.text
        assert "Bob Builder" in (message.html or "")
        assert message.message["List-Unsubscribe"].startswith("<https://")
        assert delivery.provider_message_id is not None
        assert delivery.provider_message_id.strip("<>") in message.message["Message-ID"]
        assert delivery.attempts == 1
    assert len({m.message["Message-ID"] for m in received}) == 3


async def test_server_failing_twice_then_accepting_gives_one_message_and_three_attempts(
    box: Outbox,
) -> None:
    box.smtp.fail_next(2, code=451, text="4.3.0 Mailbox busy, try later")
    row = await box.reminder()
    async with worker(box):
        await box.run(row)

    assert len(box.smtp.messages) == 1
    assert box.smtp.attempts == 3
    [delivery] = await box.deliveries(row)
    assert delivery.status == "sent"
    assert delivery.attempts == 3
    assert delivery.error_code is None


async def test_permanent_smtp_error_is_recorded_and_not_retried(box: Outbox) -> None:
    box.smtp.reject_recipient(BOB_EMAIL, 550, "5.1.1 No such user here")
    row = await box.reminder()
    async with worker(box):
        await box.run(row)

    assert box.smtp.messages == []
    assert box.smtp.attempts == 1
    [delivery] = await box.deliveries(row)
    assert delivery.status == "failed"
    assert delivery.error_code == "smtp_550"
    assert "No such user here" in (delivery.error_message or "")
    assert delivery.attempts == 1


async def test_a_body_that_loops_without_bound_fails_its_delivery_and_sends_nothing(
    box: Outbox,
) -> None:
    # Nothing printed inside: the loop budget, not the output limit, is what stops it.
    body = (
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}{{ client.name }}"
    )
    row = await box.reminder(body=body)
    async with worker(box):
        await box.run(row)

    assert box.smtp.messages == []
    [delivery] = await box.deliveries(row)
    assert delivery.status == "failed"
    assert delivery.error_code == "template_error"
    assert "loop at most" in (delivery.error_message or "")


@pytest.mark.parametrize(
    ("body", "says"),
    [(TIME_BURNER, "seconds"), (DOUBLING_MACRO, VALUE_LIMIT)],
    ids=["spends its whole time budget", "doubles a string at each call"],
)
async def test_a_stored_body_that_would_exhaust_the_worker_fails_while_another_business_is_sent(
    box: Outbox, database_url: str, body: str, says: str
) -> None:
    # Straight into the table, as a body saved before bodies were trial-rendered would be.
    exhausting = await box.reminder(body=body)

    def sender(business_id: uuid.UUID) -> SenderIdentity:
        return SenderIdentity(
            business_id=business_id,
            channel="email",
            is_default=True,
            from_email="office@other.example.com",
        )

    async with seeded_business(database_url, "Other & Co", LONDON, sender) as other:
        at = (await box.now() + timedelta(hours=1)).isoformat()
        fine = await add_reminder(other, {"kind": "once", "at": at}, body="Hi {{ client.name }}")
        async with worker(box):
            handles = [
                await box.start(exhausting),
                await box.client.start_workflow(
                    ReminderWorkflow.run,
                    reminder_input(fine),
                    id=fine.workflow_id,
                    task_queue=box.task_queue,
                ),
            ]
            for handle in handles:
                await handle.result()
        [sent] = await deliveries_of(other, fine)

    [failed] = await box.deliveries(exhausting)
    assert failed.status == "failed"
    assert failed.error_code == "template_error"
    assert says in (failed.error_message or "")
    assert sent.status == "sent"
    [message] = box.smtp.messages
    assert message.message["From"] == "Other & Co <office@other.example.com>"
    assert "Hi Bob Builder" in message.text


async def test_a_retry_after_the_provider_accepted_never_sends_again(box: Outbox) -> None:
    flaky = FailAfterSend(build_providers(box.settings)["email"])  # closed by worker()
    row = await box.reminder()
    async with worker(box, email=flaky):
        await box.run(row)

    assert len(box.smtp.messages) == 1  # the client got it once
    [delivery] = await box.deliveries(row)
    assert delivery.status == "failed"
    assert delivery.error_code == "outcome_unknown"
    assert "ConnectionResetError" in (delivery.error_message or "")
    assert delivery.attempts == 1
    assert flaky.calls == 1  # the retry did not call the provider at all


# -- SMS and WhatsApp ---------------------------------------------------------------------


async def test_sms_goes_out_through_twilio_from_the_firms_number(box: Outbox) -> None:
    row = await box.reminder(channels=("sms",))
    async with worker(box):
        await box.run(row)

    [message] = box.twilio.messages
    assert message.to == BOB_PHONE
    assert message.from_ == FIRM_NUMBER
    assert message.body == "Hi Bob Builder, please send your VAT documents."
    [delivery] = await box.deliveries(row)
    assert delivery.status == "sent"
    assert delivery.provider_message_id == message.sid
    assert message.status_callback is not None
    assert message.status_callback.endswith(f"/webhooks/twilio/status?delivery_id={delivery.id}")


async def test_twilio_503_twice_then_accepting_sends_once_after_three_attempts(
    box: Outbox,
) -> None:
    box.twilio.fail_next(2, status=503)
    row = await box.reminder(channels=("sms",))
    async with worker(box):
        await box.run(row)

    assert len(box.twilio.messages) == 1
    assert len(box.twilio.requests) == 3
    [delivery] = await box.deliveries(row)
    assert (delivery.status, delivery.attempts) == ("sent", 3)


@pytest.mark.parametrize(
    ("channel", "code"),
    [("sms", 21211), ("sms", 21614), ("sms", 21610), ("whatsapp", 63016), ("whatsapp", 63014)],
)
async def test_permanent_twilio_errors_fail_at_once_with_the_providers_code(
    box: Outbox, channel: str, code: int
) -> None:
    box.twilio.reject(BOB_PHONE, code)
    row = await box.reminder(channels=(channel,))
    async with worker(box):
        await box.run(row)

    assert box.twilio.messages == []
    assert len(box.twilio.requests) == 1  # not retried
    [delivery] = await box.deliveries(row)
    assert delivery.status == "failed"
    assert delivery.error_code == str(code)
    assert delivery.error_message
    assert delivery.attempts == 1
    opted_out = (await box.stored_client()).opted_out_channels
    assert opted_out == ([channel] if code == 21610 else [])


async def test_whatsapp_outside_the_session_uses_the_approved_template(box: Outbox) -> None:
    content_sid = "HX" + "ab" * 16
    row = await box.reminder(
        channels=("whatsapp",),
        whatsapp_content_sid=content_sid,
        whatsapp_content_variables={"1": "{{ client.name }}", "2": "{{ business.name }}"},
    )
    async with worker(box):
        await box.run(row)

    [message] = box.twilio.messages
    assert message.to == f"whatsapp:{BOB_PHONE}"
    assert message.from_ == f"whatsapp:{FIRM_NUMBER}"
    assert message.content_sid == content_sid
    assert message.content_variables == {"1": "Bob Builder", "2": "Ann & Co"}
    assert message.body is None


async def test_whatsapp_inside_the_session_sends_the_text(box: Outbox) -> None:
    await box.update_client(whatsapp_session_at=datetime.now(UTC) - timedelta(hours=2))
    row = await box.reminder(channels=("whatsapp",), whatsapp_content_sid="HX" + "ab" * 16)
    async with worker(box):
        await box.run(row)

    [message] = box.twilio.messages
    assert message.content_sid is None
    assert message.body == "Hi Bob Builder, please send your VAT documents."


async def test_opted_out_or_unreachable_clients_are_skipped_with_the_reason(box: Outbox) -> None:
    await box.update_client(opted_out_channels=["sms"], email=None)
    row = await box.reminder(channels=("sms", "email"))
    async with worker(box):
        await box.run(row)

    assert box.twilio.requests == []
    assert box.smtp.attempts == 0
    reasons = {d.channel: (d.status, d.error_code) for d in await box.deliveries(row)}
    assert reasons == {"sms": ("skipped", "opted_out"), "email": ("skipped", "no_address")}


# -- fallback -----------------------------------------------------------------------------


async def test_email_bounced_at_the_server_falls_back_to_sms(box: Outbox) -> None:
    box.smtp.reject_recipient(BOB_EMAIL, 550, "5.1.1 Mailbox unavailable")
    row = await box.reminder(fallback=True)
    async with worker(box):
        await box.run(row)

    [sms] = box.twilio.messages
    assert sms.to == BOB_PHONE
    by_channel = {d.channel: d for d in await box.deliveries(row)}
    assert by_channel["email"].status == "failed"
    assert by_channel["email"].error_code == "smtp_550"
    assert by_channel["sms"].status == "sent"
    assert by_channel["sms"].fallback_from == "email"


async def test_without_the_option_a_bounce_does_not_fall_back(box: Outbox) -> None:
    box.smtp.reject_recipient(BOB_EMAIL, 550, "5.1.1 Mailbox unavailable")
    row = await box.reminder()
    async with worker(box):
        await box.run(row)

    assert box.twilio.requests == []
    assert [d.channel for d in await box.deliveries(row)] == ["email"]


# -- send window --------------------------------------------------------------------------


async def _evening_in_london(box: Outbox) -> datetime:
    """20:00 London time on a day after the test server's current time."""
    now = await box.now()
    day = (now + timedelta(days=2)).date()
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(20, 0), tzinfo=ZoneInfo(LONDON)).astimezone(UTC)


async def test_sms_outside_the_send_window_waits_for_it_to_open(box: Outbox) -> None:
    await box.update_business(send_window_start=time(9, 0), send_window_end=time(17, 0))
    at = await _evening_in_london(box)
    row = await box.reminder({"kind": "once", "at": at.isoformat()}, channels=("sms", "email"))
    async with worker(box):
        handle = await box.start(row)
        await box.env.sleep(at + timedelta(minutes=30) - await box.now())

        # Email is not held; the SMS is, and its row says until when.
        assert len(box.smtp.messages) == 1
        assert box.twilio.messages == []
        sms = next(d for d in await box.deliveries(row) if d.channel == "sms")
        assert sms.status == "pending"
        from zoneinfo import ZoneInfo

        next_morning = datetime.combine(
            at.astimezone(ZoneInfo(LONDON)).date() + timedelta(days=1),
            time(9, 0),
            tzinfo=ZoneInfo(LONDON),
        )
        assert sms.deferred_until == next_morning

        await handle.result()
    assert len(box.twilio.messages) == 1
    sms = next(d for d in await box.deliveries(row) if d.channel == "sms")
    assert sms.status == "sent"


async def test_cancelled_while_held_for_the_window_sends_nothing(box: Outbox) -> None:
    await box.update_business(send_window_start=time(9, 0), send_window_end=time(17, 0))
    at = await _evening_in_london(box)
    row = await box.reminder({"kind": "once", "at": at.isoformat()}, channels=("sms",))
    async with worker(box):
        handle = await box.start(row)
        await box.env.sleep(at + timedelta(minutes=30) - await box.now())
        await handle.signal(ReminderWorkflow.cancel)
        await handle.result()
        await box.env.sleep(timedelta(days=1))

    assert box.twilio.requests == []
    [sms] = await box.deliveries(row)
    assert (sms.status, sms.error_code) == ("skipped", "cancelled")


# -- the provider's callbacks close the loop ---------------------------------------------


async def test_stop_by_sms_opts_out_and_the_next_occurrence_is_skipped(
    box: Outbox, client: httpx.AsyncClient
) -> None:
    start = (await box.now() + timedelta(hours=1)).replace(microsecond=0)
    row = await box.reminder(
        {"kind": "recurring", "rrule": "FREQ=DAILY;COUNT=2", "start": start.isoformat()},
        channels=("sms",),
    )
    async with worker(box):
        handle = await box.start(row)
        await box.env.sleep(timedelta(hours=2))  # the first occurrence went out
        assert len(box.twilio.messages) == 1

        stop = signed_callback(
            TWILIO_TOKEN,
            f"{PUBLIC_BASE_URL}/api/v1/webhooks/twilio/inbound",
            {"From": BOB_PHONE, "To": FIRM_NUMBER, "Body": "STOP", "AccountSid": TWILIO_SID},
        )
        answer = await client.post(
            "/api/v1/webhooks/twilio/inbound", data=stop.params, headers=stop.headers
        )
        assert answer.status_code == 200
        await handle.result()

    assert len(box.twilio.messages) == 1  # nothing after STOP
    first, second = await box.deliveries(row)
    assert first.status == "sent"
    assert (second.status, second.error_code) == ("skipped", "opted_out")


async def test_status_callbacks_record_delivery_and_a_forged_one_is_refused(
    box: Outbox, client: httpx.AsyncClient
) -> None:
    row = await box.reminder(channels=("sms",))
    async with worker(box):
        await box.run(row)
    [message] = box.twilio.messages

    delivered = box.twilio.status_callback(message, "delivered")
    path = delivered.url.removeprefix(PUBLIC_BASE_URL)
    forged = {**delivered.params, "MessageStatus": "failed", "ErrorCode": "30003"}
    refused = await client.post(path, data=forged, headers=delivered.headers)
    assert refused.status_code == 403
    [delivery] = await box.deliveries(row)
    assert (delivery.status, delivery.error_code) == ("sent", None)

    accepted = await client.post(path, data=delivered.params, headers=delivered.headers)
    assert accepted.status_code == 200
    [delivery] = await box.deliveries(row)
    assert delivery.status == "delivered"
    assert delivery.delivered_at is not None


async def test_a_retry_adopts_the_sms_twilio_took_instead_of_guessing(
    box: Outbox, client: httpx.AsyncClient
) -> None:
    """The worker lost Twilio's answer: the retry asks Twilio, finds the message and records
    it as sent (its SID, so the status callback finds it too); nothing is sent twice."""
    flaky = FailAfterSend(build_providers(box.settings)["sms"])
    row = await box.reminder(channels=("sms",))
    async with worker(box, sms=flaky):
        await box.run(row)
    [message] = box.twilio.messages  # sent once, never again
    [delivery] = await box.deliveries(row)
    assert (delivery.status, delivery.error_code) == ("sent", None)
    assert delivery.provider_message_id == message.sid
    assert flaky.calls == 1  # the retry looked, and did not send

    callback = box.twilio.status_callback(message, "delivered")
    answer = await client.post(
        callback.url.removeprefix(PUBLIC_BASE_URL), data=callback.params, headers=callback.headers
    )
    assert answer.status_code == 200
    [delivery] = await box.deliveries(row)
    assert delivery.status == "delivered"


async def test_a_retry_sends_the_sms_twilio_never_got(box: Outbox) -> None:
    """The worker died after claiming the send, before its request left: the retry asks
    Twilio, finds nothing, and sends. The client gets it once, not never."""
    flaky = FailAfterClaim(build_providers(box.settings)["sms"])
    row = await box.reminder(channels=("sms",))
    async with worker(box, sms=flaky):
        await box.run(row)
    [message] = box.twilio.messages
    [delivery] = await box.deliveries(row)
    assert (delivery.status, delivery.provider_message_id) == ("sent", message.sid)
    assert flaky.calls == 2


# -- throttling ---------------------------------------------------------------------------


async def test_a_burst_beyond_the_sms_rate_is_held_and_drains_without_failing(
    box: Outbox, temporal_dev: Any
) -> None:
    """On the real dev server: six clients due at once with SMS limited to 3 per second
    and at most half a second's wait in the worker. Sends beyond that keep their slot on
    the row and come back for it; every client gets exactly one message. With Redis, two
    workers share the one limit (each has its own connection to it)."""
    numbers = [f"+4479111234{n:02d}" for n in range(10, 16)]
    async with box.sessionmaker() as session:
        others = [
            ClientRow(business_id=box.business_id, name=f"Client {n}", phone=number)
            for n, number in enumerate(numbers)
        ]
        session.add_all(others)
        await session.commit()
    live = replace(
        box,
        env=temporal_dev,
        client=temporal_dev.client,
        settings=box.settings.model_copy(
            update={"SMS_RATE_PER_SECOND": 3.0, "SEND_RATE_MAX_WAIT_SECONDS": 0.5}
        ),
    )
    row = await live.reminder(channels=("sms",), client_ids=[str(c.id) for c in others])
    redis_url = os.environ.get("REDIS_URL")
    target = temporal_dev.client.service_client.config.target_host
    prefix = f"test-{uuid.uuid4().hex}:"
    limiters = (
        [RedisRateLimiter(redis_url, prefix=prefix) for _ in range(2)]
        if redis_url
        else [LocalRateLimiter()]
    )
    async with AsyncExitStack() as stack:
        for n, limiter in enumerate(limiters):
            # Each worker on its own connection, as separate worker processes would be.
            connection = live.client if n == 0 else await Client.connect(target)
            await stack.enter_async_context(worker(replace(live, client=connection), limiter))
            stack.push_async_callback(limiter.close)
        handle = await live.start(row)
        await handle.signal(ReminderWorkflow.trigger_now)
        await box.twilio.wait_for(len(numbers), timeout=30)
        await handle.signal(ReminderWorkflow.cancel)
        await handle.result()

    assert sorted(m.to for m in box.twilio.messages) == numbers
    deliveries = await live.deliveries(row)
    assert [(d.status, d.attempts) for d in deliveries] == [("sent", 1)] * len(numbers)
    held = [d for d in deliveries if d.send_slot_at is not None]
    assert held, "some sends were beyond the wait the worker allows and kept a slot"


async def test_the_sends_log_the_request_id_the_reminder_was_made_with(
    box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    stamp_request_ids()
    caplog.set_level(logging.INFO, logger="temporalio.activity")
    row = await box.reminder(channels=("email", "sms"))
    async with worker(box):
        await (await box.start(row, request_id="req-from-the-api")).result()

    sends = [r for r in caplog.records if r.getMessage().startswith("delivery ")]
    assert len(sends) == 2
    assert {getattr(r, "request_id", None) for r in sends} == {"req-from-the-api"}
