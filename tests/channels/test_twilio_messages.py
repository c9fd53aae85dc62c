"""TwilioProvider against a local server speaking Twilio's Messages API, through the SDK."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from channels.providers import DeliveryFailure, OutgoingMessage
from channels.twilio_messages import TwilioProvider
from core.settings import Settings
from tests.conftest import TWILIO_SID, TWILIO_TOKEN
from tests.fakes.twilio_api import MESSAGES, FakeTwilio

TO = "+447700900123"
FROM_NUMBER = "+15005550006"
WHATSAPP_FROM = "+14155238886"
SERVICE_SID = "MG" + "a" * 32
CONTENT_SID = "HX" + "b" * 32
CALLBACK = "https://reminders.example.test/webhooks/twilio/status"


def make_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_BASE_URL": base_url,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_MESSAGING_SERVICE_SID": None,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_message(channel: str = "sms", **fields: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "channel": channel,
        "to": TO,
        "subject": None,
        "body": "Your VAT return is due on 7 May.",
        "delivery_id": "delivery-1",
    }
    values.update(fields)
    return OutgoingMessage(**values)


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
        yield fake


@pytest.fixture
async def providers() -> AsyncIterator[list[TwilioProvider]]:
    """Providers a test builds are closed after it."""
    built: list[TwilioProvider] = []
    yield built
    for provider in built:
        await provider.close()


@pytest.fixture
def build(providers: list[TwilioProvider], twilio_api: FakeTwilio) -> Any:
    def _build(channel: str = "sms", **overrides: Any) -> TwilioProvider:
        base_url = overrides.pop("base_url", twilio_api.url)
        provider = TwilioProvider(make_settings(base_url, **overrides), channel)
        providers.append(provider)
        return provider

    return _build


async def send_failure(provider: TwilioProvider, message: OutgoingMessage) -> DeliveryFailure:
    with pytest.raises(DeliveryFailure) as caught:
        await provider.send(message)
    return caught.value


# -- what arrives at Twilio ---------------------------------------------------------------


async def test_sms_arrives_with_to_from_body_callback_and_basic_auth(
    build: Any, twilio_api: FakeTwilio
) -> None:
    result = await build("sms").send(make_message(status_callback=CALLBACK))

    [message] = await twilio_api.wait_for(1)
    assert result.provider_message_id == message.sid
    assert result.status == "sent"
    [request] = twilio_api.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.auth == (TWILIO_SID, TWILIO_TOKEN)
    assert request.params == {
        "To": TO,
        "From": FROM_NUMBER,
        "Body": "Your VAT return is due on 7 May.",
        "StatusCallback": CALLBACK,
    }


async def test_the_segments_twilio_reports_are_returned(build: Any) -> None:
    short = await build("sms").send(make_message())
    assert short.segments == 1
    long = await build("sms").send(make_message(body="x" * 161))  # GSM-7: 153 per part
    assert long.segments == 2
    unicode = await build("sms").send(make_message(body="é€ü ☺" * 15))  # UCS-2: 70, then 67
    assert unicode.segments == 2
    # Through a messaging service Twilio answers "accepted" and 0 segments: not reported.
    queued = await build("sms").send(
        make_message(from_number=None, messaging_service_sid=SERVICE_SID)
    )
    assert queued.segments is None


async def test_sms_uses_the_business_sender_number(build: Any, twilio_api: FakeTwilio) -> None:
    await build("sms", TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID).send(
        make_message(from_number="+15005550001")
    )

    [message] = await twilio_api.wait_for(1)
    assert message.from_ == "+15005550001"
    assert message.messaging_service_sid is None


async def test_sms_uses_the_messaging_service_of_the_message(
    build: Any, twilio_api: FakeTwilio
) -> None:
    await build("sms").send(make_message(messaging_service_sid=SERVICE_SID))

    [request] = twilio_api.requests
    assert request.params["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in request.params
    [message] = await twilio_api.wait_for(1)
    assert message.status == "accepted"


async def test_sms_falls_back_to_the_configured_messaging_service(
    build: Any, twilio_api: FakeTwilio
) -> None:
    await build("sms", TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID).send(make_message())

    [request] = twilio_api.requests
    assert request.params["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in request.params


async def test_no_sender_at_all_fails_for_good_without_calling_twilio(
    build: Any, twilio_api: FakeTwilio
) -> None:
    provider = build("sms", TWILIO_FROM_NUMBER=None)

    failure = await send_failure(provider, make_message())

    assert failure.code == "no_sender"
    assert not failure.retryable
    assert twilio_api.requests == []


async def test_whatsapp_uses_whatsapp_addresses(build: Any, twilio_api: FakeTwilio) -> None:
    await build("whatsapp").send(make_message("whatsapp", status_callback=CALLBACK))

    [request] = twilio_api.requests
    assert request.params == {
        "To": f"whatsapp:{TO}",
        "From": f"whatsapp:{WHATSAPP_FROM}",
        "Body": "Your VAT return is due on 7 May.",
        "StatusCallback": CALLBACK,
    }


async def test_whatsapp_template_is_sent_by_content_sid_without_a_body(
    build: Any, twilio_api: FakeTwilio
) -> None:
    variables = {"1": "Ada", "2": "7 May"}

    await build("whatsapp").send(
        make_message(
            "whatsapp",
            from_number="whatsapp:+15005550002",
            content_sid=CONTENT_SID,
            content_variables=variables,
        )
    )

    [request] = twilio_api.requests
    assert request.params["From"] == "whatsapp:+15005550002"
    assert request.params["ContentSid"] == CONTENT_SID
    assert json.loads(request.params["ContentVariables"]) == variables
    assert "Body" not in request.params
    [message] = await twilio_api.wait_for(1)
    assert message.content_variables == variables


# -- failures Twilio reports --------------------------------------------------------------


async def test_invalid_number_fails_for_good_with_twilios_code(build: Any) -> None:
    failure = await send_failure(build("sms"), make_message(to="07700 900123"))

    assert failure.code == "21211"
    assert not failure.retryable
    assert failure.message == "The 'To' number 07700 900123 is not a valid phone number."
    assert not failure.opt_out


async def test_unsubscribed_recipient_fails_for_good_and_opts_out(
    build: Any, twilio_api: FakeTwilio
) -> None:
    twilio_api.stopped.add(TO)

    failure = await send_failure(build("sms"), make_message())

    assert failure.code == "21610"
    assert not failure.retryable
    assert failure.opt_out
    assert failure.message == MESSAGES[21610]
    assert twilio_api.messages == []


@pytest.mark.parametrize(
    ("channel", "code"),
    [("sms", 21614), ("sms", 21408), ("whatsapp", 63016), ("whatsapp", 63014)],
)
async def test_rejected_recipient_fails_for_good_with_twilios_code_and_message(
    build: Any, twilio_api: FakeTwilio, channel: str, code: int
) -> None:
    twilio_api.reject(TO, code)

    failure = await send_failure(build(channel), make_message(channel))

    assert failure.code == str(code)
    assert not failure.retryable
    assert not failure.opt_out
    assert failure.message == MESSAGES[code].format(to=TO)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limit_and_server_errors_are_retried(
    build: Any, twilio_api: FakeTwilio, status: int
) -> None:
    twilio_api.fail_next(1, status=status)

    failure = await send_failure(build("sms"), make_message())

    assert failure.code == f"http_{status}"
    assert failure.retryable
    assert twilio_api.messages == []


async def test_rate_limit_carries_retry_after(build: Any, twilio_api: FakeTwilio) -> None:
    twilio_api.fail_next(1, status=429, retry_after=7)

    failure = await send_failure(build("sms"), make_message())

    assert failure.retryable
    assert failure.retry_after == 7.0


async def test_the_next_send_after_an_outage_goes_through(
    build: Any, twilio_api: FakeTwilio
) -> None:
    provider = build("sms")
    twilio_api.fail_next(1, status=503)
    await send_failure(provider, make_message())

    result = await provider.send(make_message())

    [message] = await twilio_api.wait_for(1)
    assert result.provider_message_id == message.sid


async def test_wrong_credentials_are_retried_as_our_configuration(
    build: Any, twilio_api: FakeTwilio
) -> None:
    provider = build("sms", TWILIO_AUTH_TOKEN="not-the-token")

    failure = await send_failure(provider, make_message())

    assert failure.code == "twilio_auth"
    assert failure.retryable
    assert twilio_api.requests[0].auth == (TWILIO_SID, "not-the-token")
    assert twilio_api.requests[0].status == 401


# -- failures on the way ------------------------------------------------------------------


async def test_nothing_listening_is_a_retryable_connection_error(build: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = build("sms", base_url=f"http://127.0.0.1:{port}")

    failure = await send_failure(provider, make_message())

    assert failure.code == "connection_error"
    assert failure.retryable


async def test_no_answer_in_time_is_a_retryable_timeout(build: Any, twilio_api: FakeTwilio) -> None:
    twilio_api.delay_next(1, 30)
    provider = build("sms", TWILIO_TIMEOUT_SECONDS=0.2)

    failure = await send_failure(provider, make_message())

    assert failure.code == "timeout"
    assert failure.retryable


async def test_a_send_waiting_on_twilio_does_not_block_the_event_loop(
    build: Any, twilio_api: FakeTwilio
) -> None:
    twilio_api.delay_next(1, 30)
    send = asyncio.create_task(build("sms").send(make_message()))
    ticks = 0
    async with asyncio.timeout(10):
        # The fake server runs on this same loop: it only sees the request if the send
        # yields, and the ticks only count while the send is still waiting for its answer.
        while not twilio_api.requests or ticks < 20:
            await asyncio.sleep(0.01)
            assert not send.done()
            ticks += 1
        twilio_api.release_delayed()
        result = await send

    assert ticks >= 20
    [message] = await twilio_api.wait_for(1)
    assert result.provider_message_id == message.sid


def test_provider_is_built_outside_an_event_loop() -> None:
    provider = TwilioProvider(make_settings("http://127.0.0.1:1"), "sms")

    assert provider.http_client._session is None


async def test_provider_sends_again_after_close(build: Any, twilio_api: FakeTwilio) -> None:
    provider = build("sms")
    await provider.send(make_message())
    await provider.close()

    await provider.send(make_message())

    assert len(await twilio_api.wait_for(2)) == 2


def test_provider_needs_credentials_and_a_known_channel() -> None:
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        TwilioProvider(make_settings("http://127.0.0.1:1", TWILIO_AUTH_TOKEN=None), "sms")
    with pytest.raises(ValueError, match="channel"):
        TwilioProvider(make_settings("http://127.0.0.1:1"), "email")


# -- the fake's status callbacks ------------------------------------------------------------


async def test_status_callback_is_signed_like_twilio(build: Any, twilio_api: FakeTwilio) -> None:
    await build("sms").send(make_message(status_callback=CALLBACK))
    [message] = await twilio_api.wait_for(1)

    callback = twilio_api.status_callback(message, "undelivered", error_code=30003)

    assert callback.url == CALLBACK
    assert callback.params["MessageSid"] == message.sid
    assert callback.params["MessageStatus"] == "undelivered"
    assert callback.params["ErrorCode"] == "30003"
    signature = callback.headers["X-Twilio-Signature"]
    assert RequestValidator(TWILIO_TOKEN).validate(callback.url, callback.params, signature)
    assert not RequestValidator("another-token").validate(callback.url, callback.params, signature)
