"""`POST /email-configurations/{id}/test`: log in and send one message with a configuration,
reporting the stage that failed. Bounded by SMTP_TEST_TIMEOUT_SECONDS in total."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from api.email_configurations.schemas import EmailConfigurationTestResult

MAX_ERROR = 500


@dataclass
class SmtpTarget:
    """What the probe connects with (the password already decrypted, kept in memory only)."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    from_email: str
    from_name: str | None


def test_message(target: SmtpTarget, to: str, name: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((target.from_name or "", target.from_email))
    message["To"] = to
    message["Subject"] = f"Test message: email configuration {name!r}"
    message["Message-ID"] = make_msgid(domain=target.from_email.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This message was sent to check the email configuration {name!r} "
        f"({target.host}:{target.port}). Reminders for your clients will go out this way."
    )
    return message


def _failure(
    stage: str, error: BaseException | str, target: SmtpTarget
) -> EmailConfigurationTestResult:
    text = error if isinstance(error, str) else f"{error.__class__.__name__}: {error}"
    if target.password:  # a server could echo what it was sent; never pass that on
        text = text.replace(target.password, "***")
    return EmailConfigurationTestResult(ok=False, stage=stage, error=text[:MAX_ERROR])  # type: ignore[arg-type]


async def probe(
    target: SmtpTarget,
    message: EmailMessage,
    timeout: float,
    tls_context: ssl.SSLContext | None = None,
) -> EmailConfigurationTestResult:
    """Connect, secure, log in and send; `ok: false` names the stage that failed."""
    state = {"stage": "connect"}
    client = aiosmtplib.SMTP(
        hostname=target.host,
        port=target.port,
        timeout=timeout,
        use_tls=target.security == "tls",
        start_tls=False,  # upgraded below, where "required" is enforced
        tls_context=tls_context,
    )
    try:
        async with asyncio.timeout(timeout):
            reply = await _converse(client, target, message, state)
    except TimeoutError:
        return _failure(state["stage"], f"no answer within {timeout:g} s", target)
    except Exception as exc:
        stage = state["stage"]
        if stage == "connect" and _is_tls_error(exc):
            stage = "tls"
        return _failure(stage, exc, target)
    finally:
        client.close()
    return EmailConfigurationTestResult(ok=True, server_reply=reply[:MAX_ERROR])


async def _converse(
    client: aiosmtplib.SMTP, target: SmtpTarget, message: EmailMessage, state: dict[str, str]
) -> str:
    await client.connect()
    if target.security == "starttls":
        state["stage"] = "tls"
        await client.ehlo()
        if not client.supports_extension("starttls"):
            raise RuntimeError(f"{target.host} does not offer STARTTLS")
        await client.starttls()
    if target.username:
        state["stage"] = "auth"
        await client.ehlo()
        if not client.supported_auth_methods:
            raise RuntimeError(f"{target.host} offers no AUTH method this client speaks")
        await client.login(target.username, target.password or "")
    state["stage"] = "send"
    _, reply = await client.send_message(message)
    try:
        await client.quit()
    except Exception:  # the message was accepted; a rude goodbye changes nothing
        pass
    return reply


def _is_tls_error(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError)
