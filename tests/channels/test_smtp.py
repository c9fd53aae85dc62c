"""The SMTP provider against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtplib import SMTPTimeoutError

from channels.providers import DeliveryFailure, OutgoingMessage
from channels.smtp import SmtpProvider
from core.settings import Settings
from tests.fakes.smtp import FakeSmtpServer, silent_server, unused_port

FROM = "reminders@acme.example.com"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_STARTTLS": False,
        "SMTP_TIMEOUT_SECONDS": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def provider_for(server: FakeSmtpServer, **overrides: Any) -> SmtpProvider:
    settings = make_settings(**{**server.smtp_settings(), **overrides})
    return SmtpProvider(settings, tls_context=server.client_tls_context)


def outgoing(**overrides: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "channel": "email",
        "to": "client@example.org",
        "subject": "Your VAT return is due",
        "body": "Dear Jane,\nplease send your receipts.\n\nThanks,\nAcme",
        "delivery_id": str(uuid.uuid4()),
        "from_email": FROM,
        "from_name": "Acme Accounting",
        **overrides,
    }
    return OutgoingMessage(**values)


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


async def test_message_arrives_with_sender_recipient_subject_and_both_parts(
    smtp: FakeSmtpServer,
) -> None:
    message = outgoing(reply_to="jane.accountant@acme.example.com")

    result = await provider_for(smtp).send(message)

    [received] = await smtp.wait_for(1)
    email = received.message
    assert received.mail_from == FROM
    assert received.rcpt_tos == ("client@example.org",)
    assert email["From"].addresses[0].display_name == "Acme Accounting"
    assert email["From"].addresses[0].addr_spec == FROM
    assert email["To"] == "client@example.org"
    assert email["Reply-To"] == "jane.accountant@acme.example.com"
    assert email["Subject"] == "Your VAT return is due"
    assert email["Date"] is not None
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["Message-ID"] == f"<{message.delivery_id}@acme.example.com>"
    assert "List-Unsubscribe" not in email
    assert received.text.rstrip("\n") == message.body
    assert received.html is not None
    assert "<p>Dear Jane,<br>\nplease send your receipts.</p>" in received.html
    assert "<p>Thanks,<br>\nAcme</p>" in received.html
    assert result.status == "sent"
    assert result.provider_message_id == f"{message.delivery_id}@acme.example.com"


async def test_unsubscribe_url_adds_one_click_headers_and_a_footer_link(
    smtp: FakeSmtpServer,
) -> None:
    url = "https://reminders.example.test/u/abc?c=1&x=2"

    await provider_for(smtp).send(outgoing(unsubscribe_url=url))

    [received] = await smtp.wait_for(1)
    assert received.message["List-Unsubscribe"] == f"<{url}>"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.html is not None
    assert 'href="https://reminders.example.test/u/abc?c=1&amp;x=2"' in received.html


async def test_html_part_escapes_the_body(smtp: FakeSmtpServer) -> None:
    body = 'Fees & charges: <script>alert("x")</script>'

    await provider_for(smtp).send(outgoing(body=body))

    [received] = await smtp.wait_for(1)
    assert received.html is not None
    assert "<script>" not in received.html
    assert "Fees &amp; charges: &lt;script&gt;" in received.html
    assert received.text.rstrip("\n") == body


async def test_non_ascii_name_subject_and_body_arrive_intact(smtp: FakeSmtpServer) -> None:
    message = outgoing(
        from_name="Société Générale Comptabilité", subject="Échéance TVA", body="Merci, Zoë ✓"
    )

    await provider_for(smtp).send(message)

    [received] = await smtp.wait_for(1)
    assert received.message["From"].addresses[0].display_name == "Société Générale Comptabilité"
    assert received.message["Subject"] == "Échéance TVA"
    assert received.text.rstrip("\n") == "Merci, Zoë ✓"


async def test_same_delivery_sent_twice_keeps_its_message_id(smtp: FakeSmtpServer) -> None:
    provider = provider_for(smtp)
    message = outgoing()

    first = await provider.send(message)
    second = await provider.send(message)

    one, two = await smtp.wait_for(2)
    assert one.message["Message-ID"] == two.message["Message-ID"]
    assert first.provider_message_id == second.provider_message_id


async def test_default_from_email_and_subject_are_used_when_missing(smtp: FakeSmtpServer) -> None:
    provider = provider_for(smtp, DEFAULT_FROM_EMAIL="noreply@firm.example.net")
    message = outgoing(from_email=None, from_name=None, subject=None)

    await provider.send(message)

    [received] = await smtp.wait_for(1)
    assert received.mail_from == "noreply@firm.example.net"
    assert received.message["From"] == "noreply@firm.example.net"
    assert received.message["Subject"] == "Reminder"
    assert received.message["Message-ID"] == f"<{message.delivery_id}@firm.example.net>"


async def test_no_sender_anywhere_is_a_permanent_failure(smtp: FakeSmtpServer) -> None:
    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp).send(outgoing(from_email=None))

    assert caught.value.code == "no_sender"
    assert not caught.value.retryable
    assert smtp.attempts == 0


async def test_retries_of_a_failing_delivery_each_reach_the_server(smtp: FakeSmtpServer) -> None:
    smtp.fail_next(2, code=451, text="4.3.0 Mailbox busy")
    provider = provider_for(smtp)
    message = outgoing()

    for _ in range(2):
        with pytest.raises(DeliveryFailure):
            await provider.send(message)
    await provider.send(message)

    assert smtp.attempts == 3
    [received] = await smtp.wait_for(1)
    assert received.message["Message-ID"] == f"<{message.delivery_id}@acme.example.com>"


# -- refusals ---------------------------------------------------------------------------


async def test_temporary_failure_at_data_is_retryable_and_nothing_is_stored(
    smtp: FakeSmtpServer,
) -> None:
    smtp.fail_next(code=451, text="4.3.0 Try again later")

    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp).send(outgoing())

    assert caught.value.code == "smtp_451"
    assert caught.value.retryable
    assert "Try again later" in caught.value.message
    assert smtp.messages == []


@pytest.mark.parametrize("stage", ["mail", "rcpt", "data"])
async def test_any_4xx_reply_is_retryable(smtp: FakeSmtpServer, stage: Any) -> None:
    smtp.fail_next(code=452, text="4.3.1 Insufficient system storage", at=stage)

    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp).send(outgoing())

    assert caught.value.code == "smtp_452"
    assert caught.value.retryable
    assert smtp.messages == []


async def test_unknown_recipient_is_permanent_with_the_server_text(smtp: FakeSmtpServer) -> None:
    smtp.reject_recipient("gone@example.org", code=550, text="5.1.1 User unknown")

    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp).send(outgoing(to="gone@example.org"))

    assert caught.value.code == "smtp_550"
    assert not caught.value.retryable
    assert caught.value.message == "5.1.1 User unknown"
    assert smtp.messages == []


async def test_message_rejected_at_data_is_permanent(smtp: FakeSmtpServer) -> None:
    smtp.fail_next(code=554, text="5.7.1 Message rejected as spam")

    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp).send(outgoing())

    assert caught.value.code == "smtp_554"
    assert not caught.value.retryable


async def test_error_on_quit_after_acceptance_still_counts_as_sent(smtp: FakeSmtpServer) -> None:
    smtp.fail_quit(code=500, text="5.5.0 Not now")

    result = await provider_for(smtp).send(outgoing())

    assert result.status == "sent"
    assert len(await smtp.wait_for(1)) == 1


# -- connections and timeouts -----------------------------------------------------------


async def test_nothing_listening_is_a_retryable_connection_error() -> None:
    provider = SmtpProvider(make_settings(SMTP_PORT=unused_port()))

    with pytest.raises(DeliveryFailure) as caught:
        await provider.send(outgoing())

    assert caught.value.code == "connection_error"
    assert caught.value.retryable


async def test_server_that_never_answers_is_a_retryable_timeout() -> None:
    async with silent_server() as port:
        provider = SmtpProvider(make_settings(SMTP_PORT=port, SMTP_TIMEOUT_SECONDS=0.3))

        with pytest.raises(DeliveryFailure) as caught:
            await provider.send(outgoing())

    assert caught.value.code == "timeout"
    assert caught.value.retryable


async def test_lost_reply_after_the_content_is_not_a_delivery_failure(
    smtp: FakeSmtpServer,
) -> None:
    # The server may have taken the message: the caller must see "outcome unknown".
    smtp.stall_next()
    provider = provider_for(smtp, SMTP_TIMEOUT_SECONDS=1.0)

    with pytest.raises(SMTPTimeoutError):
        await provider.send(outgoing())

    assert smtp.attempts == 1


# -- TLS and authentication -------------------------------------------------------------


async def test_starttls_encrypts_before_sending() -> None:
    with FakeSmtpServer(tls="starttls") as server:
        await provider_for(server).send(outgoing())

        [received] = await server.wait_for(1)
    assert received.tls


async def test_starttls_required_but_not_offered_sends_nothing(smtp: FakeSmtpServer) -> None:
    with pytest.raises(DeliveryFailure) as caught:
        await provider_for(smtp, SMTP_STARTTLS=True).send(outgoing())

    assert caught.value.code == "smtp_starttls_unavailable"
    assert caught.value.retryable
    assert smtp.attempts == 0


async def test_implicit_tls_delivers() -> None:
    with FakeSmtpServer(tls="implicit") as server:
        await provider_for(server).send(outgoing())

        [received] = await server.wait_for(1)
    assert received.tls


async def test_untrusted_certificate_is_refused() -> None:
    with FakeSmtpServer(tls="implicit") as server:
        provider = SmtpProvider(make_settings(**server.smtp_settings()))  # system trust only

        with pytest.raises(DeliveryFailure) as caught:
            await provider.send(outgoing())

        assert server.messages == []
    assert caught.value.code == "tls_error"
    assert caught.value.retryable


async def test_login_uses_the_configured_username_and_password() -> None:
    with FakeSmtpServer(tls="starttls", username="mailer", password="s3cret-pass") as server:
        await provider_for(server).send(outgoing())

        [received] = await server.wait_for(1)
        assert [a.success for a in server.auth_attempts] == [True]
    assert received.login == "mailer"
    assert received.tls


async def test_wrong_password_is_a_retryable_auth_failure() -> None:
    with FakeSmtpServer(tls="starttls", username="mailer", password="s3cret-pass") as server:
        provider = provider_for(server, SMTP_PASSWORD="wrong")

        with pytest.raises(DeliveryFailure) as caught:
            await provider.send(outgoing())

        assert server.messages == []
        assert server.attempts == 0
    assert caught.value.code == "smtp_auth"
    assert caught.value.retryable


async def test_missing_login_where_the_server_requires_one_is_retryable() -> None:
    with FakeSmtpServer(username="mailer", password="s3cret-pass") as server:
        provider = provider_for(server, SMTP_USERNAME=None, SMTP_PASSWORD=None)

        with pytest.raises(DeliveryFailure) as caught:
            await provider.send(outgoing())

    assert caught.value.code == "smtp_530"
    assert caught.value.retryable


async def test_login_configured_but_not_offered_sends_nothing(smtp: FakeSmtpServer) -> None:
    provider = provider_for(smtp, SMTP_USERNAME="mailer", SMTP_PASSWORD="s3cret-pass")

    with pytest.raises(DeliveryFailure) as caught:
        await provider.send(outgoing())

    assert caught.value.code == "smtp_auth_unavailable"
    assert caught.value.retryable
    assert smtp.attempts == 0


async def test_implicit_tls_with_login() -> None:
    with FakeSmtpServer(tls="implicit", username="mailer", password="s3cret-pass") as server:
        await provider_for(server).send(outgoing())

        [received] = await server.wait_for(1)
    assert received.login == "mailer"
    assert received.tls
