"""Checking a business's own SMTP server (`POST /email-configurations/{id}/test`): log in
and send one message with its configuration, reporting the stage that failed. Bounded by SMTP_TEST_TIMEOUT_SECONDS in total.

The server is the tenant's choice: it is connected to only at an address the destination
policy allows (core/network.py, after resolving its name), and the answer names the stage
and what happened (with the SMTP reply code), never the server's own words, which could be
the banner of any service that talks.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Literal

import aiosmtplib

from channels.smtp import header_text
from core.network import DestinationPolicy, DestinationRefused

Stage = Literal["connect", "tls", "auth", "send"]


@dataclass(frozen=True)
class ProbeResult:
    """`ok` with the server's reply to the message, or the stage that failed and the
    error; never the password."""

    ok: bool
    server_reply: str | None = None
    stage: Stage | None = None
    error: str | None = None


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
    message["From"] = formataddr((header_text(target.from_name or ""), target.from_email))
    message["To"] = to
    message["Subject"] = header_text(f"Test message: email configuration {name!r}")
    message["Message-ID"] = make_msgid(domain=target.from_email.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This message was sent to check the email configuration {name!r} "
        f"({target.host}:{target.port}). Reminders for your clients will go out this way."
    )
    return message


def _failure(stage: Stage, error: str) -> ProbeResult:
    return ProbeResult(ok=False, stage=stage, error=error)


def describe(exc: BaseException, stage: str) -> str:
    """What went wrong, in our words: an SMTP reply by its code, a TLS failure by the
    local library's reason, anything else by its kind."""
    if isinstance(exc, DestinationRefused | _Refusal):
        return str(exc)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = "refused the login" if stage == "auth" else "refused"
        return f"the server {what} (SMTP {exc.code})"
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        return f"the TLS handshake failed ({getattr(cause, 'reason', None) or 'TLS error'})"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, ConnectionRefusedError | aiosmtplib.SMTPConnectError):
        return "the server refused the connection"
    if isinstance(exc, OSError):
        return f"could not connect ({exc.__class__.__name__})"
    return f"the {stage} stage failed ({exc.__class__.__name__})"


class _Refusal(RuntimeError):
    """A step the server cannot do (no STARTTLS, no AUTH): our words, safe to show."""


async def probe(
    target: SmtpTarget,
    message: EmailMessage,
    timeout: float,
    destination: DestinationPolicy,
    tls_context: ssl.SSLContext | None = None,
) -> ProbeResult:
    """Connect, secure, log in and send; `ok: false` names the stage that failed."""
    state: dict[str, Stage] = {"stage": "connect"}
    client: aiosmtplib.SMTP | None = None
    sock = None
    try:
        async with asyncio.timeout(timeout):
            sock = await destination.connect(target.host, target.port, timeout)
            client = aiosmtplib.SMTP(
                hostname=target.host.strip("[]"),  # the TLS server name
                sock=sock,
                timeout=timeout,
                use_tls=target.security == "tls",
                start_tls=False,  # upgraded below, where "required" is enforced
                tls_context=tls_context,
            )
            await _converse(client, target, message, state)
    except TimeoutError:
        return _failure(state["stage"], f"no answer within {timeout:g} s")
    except Exception as exc:
        stage: Stage = state["stage"]
        if stage == "connect" and _is_tls_error(exc):
            stage = "tls"
        return _failure(stage, describe(exc, stage))
    finally:
        if client is not None:
            client.close()
        if sock is not None:
            sock.close()  # already closed with the transport, unless none was started
    return ProbeResult(ok=True, server_reply="250 accepted for delivery")


async def _converse(
    client: aiosmtplib.SMTP, target: SmtpTarget, message: EmailMessage, state: dict[str, Stage]
) -> None:
    await client.connect()
    if target.security == "starttls":
        state["stage"] = "tls"
        await client.ehlo()
        if not client.supports_extension("starttls"):
            raise _Refusal(f"{target.host} does not offer STARTTLS")
        await client.starttls()
    if target.username:
        state["stage"] = "auth"
        await client.ehlo()
        if not client.supported_auth_methods:
            raise _Refusal(f"{target.host} offers no AUTH method this client speaks")
        await client.login(target.username, target.password or "")
    state["stage"] = "send"
    await client.send_message(message)  # a reply other than 250 raises
    try:
        await client.quit()
    except Exception:  # the message was accepted; a rude goodbye changes nothing
        pass


def _is_tls_error(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError)
