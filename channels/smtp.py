"""Email over SMTP (aiosmtplib): one connection per message, every failure classified.

How failures are reported (see `DeliveryFailure` in providers.py):

| what happened                                          | code                        | retry |
|--------------------------------------------------------|-----------------------------|-------|
| no from address and no DEFAULT_FROM_EMAIL              | no_sender                   | no    |
| a From or To that cannot go on an SMTP envelope        | invalid_address             | no    |
| connection refused, reset or dropped before DATA       | connection_error            | yes   |
| a timeout before DATA (connect, greeting, any command) | timeout                     | yes   |
| TLS handshake or certificate verification failed       | tls_error                   | yes   |
| SMTP_STARTTLS set but the server does not offer it     | smtp_starttls_unavailable   | yes   |
| SMTP_USERNAME set but the server offers no usable AUTH | smtp_auth_unavailable       | yes   |
| the server refused our login                           | smtp_auth                   | yes   |
| any 4xx reply (greeting, EHLO, MAIL, RCPT, DATA)       | smtp_<code>                 | yes   |
| 530 "authentication required" at MAIL                  | smtp_530                    | yes   |
| other 5xx reply to MAIL, RCPT or DATA                  | smtp_<code>                 | no    |
| 5xx reply to the greeting, EHLO or STARTTLS            | smtp_<code>                 | yes   |
| non-ASCII address and the server lacks SMTPUTF8        | smtp_not_supported          | no    |

Failures of our own configuration (TLS, login, a relay refusing our connection) retry so
an operator can fix them; only what is about this message or this recipient is permanent.
A timeout or lost connection *after the message content went out* is not classified: the
server may have accepted it, so the library's exception propagates and the caller treats
the outcome as unknown (never sent again) instead of risking a duplicate.

`provider_message_id` is the Message-ID without its angle brackets, e.g.
`"3f2c...@acme.example.com"`; it is `<delivery_id>@<domain of the From address>`, so every
retry of one delivery carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPDataError,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
)

from channels.providers import DeliveryFailure, OutgoingMessage, ProviderResult
from core.network import DestinationPolicy, DestinationRefused
from core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "Reminder"
# QUIT is a courtesy once the message is accepted; never wait long for it.
QUIT_TIMEOUT_SECONDS = 5.0
# RFC 4954: the server wants a login we did not give; that is our configuration.
AUTH_REQUIRED = 530
_ADDRESS_FORBIDDEN = re.compile(r"[\s<>,;\"\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# DATA's content on the wire (as aiosmtplib sends it): CRLF line endings, a leading "."
# doubled.
_LINE_ENDINGS = re.compile(rb"(?:\r\n|\n|\r(?!\n))")
_DOT_STUFFING = re.compile(rb"(?m)^\.")


class SmtpProvider:
    """Sends each message on its own SMTP connection: implicit TLS, STARTTLS (required
    when SMTP_STARTTLS is set) or plain, with a login when SMTP_USERNAME is set.

    With a `destination` policy the server is a tenant's (a business's own SMTP server):
    the connection goes only to an address the policy allows, checked after resolving
    the name, and failures say what happened without the server's own words.
    """

    name = "smtp"

    def __init__(
        self,
        settings: Settings,
        tls_context: ssl.SSLContext | None = None,
        destination: DestinationPolicy | None = None,
    ) -> None:
        if not settings.SMTP_HOST:
            raise ValueError("SMTP_HOST is not set; the SMTP provider has nowhere to send")
        self.settings = settings
        # None: the system's trusted certificates, hostname checked (built off the loop).
        self.tls_context = tls_context
        self.destination = destination

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        sender = message.from_email or self.settings.DEFAULT_FROM_EMAIL
        if not sender:
            raise DeliveryFailure(
                "no_sender",
                "no From address: give the business an email sender identity "
                "or set DEFAULT_FROM_EMAIL",
                retryable=False,
            )
        _check_address(sender, "From")
        _check_address(message.to, "To")
        mime = _built(message, sender)
        client: _Client | None = None
        try:
            client = await self._connected()
            await self._open(client)
            client.before_data = message.claim
            await client.send_message(mime, sender=sender, recipients=[message.to])
        except DeliveryFailure:
            raise
        except Exception as exc:
            after_data = client is not None and client.data_started
            if after_data and not isinstance(exc, SMTPResponseException):
                log.warning(
                    "delivery %s: no reply after the message content (%r); outcome unknown",
                    message.delivery_id,
                    exc,
                )
                raise
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc
        else:
            assert client is not None
            # The message is the server's now: its answer is recorded at once, and the
            # goodbye goes on meanwhile (a worker lost waiting for QUIT would leave an
            # accepted message unrecorded).
            _say_goodbye_later(client, message.delivery_id, self.settings)
            client = None
        finally:
            if client is not None:
                client.close()
        return ProviderResult(provider_message_id=mime["Message-ID"].strip("<>"), status="sent")

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return None  # an SMTP server cannot be asked what it received

    async def close(self) -> None:
        return None  # no connection outlives a send

    def _failure(self, exc: Exception) -> DeliveryFailure | None:
        """How `exc` fails the delivery; None when it is unexpected (it propagates)."""
        if isinstance(exc, DestinationRefused):
            # The business's server resolves to an address it may not use: retrying sends
            # nowhere else, and the owner must change the configuration.
            return DeliveryFailure("destination_refused", str(exc), retryable=False)
        failure = classify(exc)
        if failure is None or self.destination is None:
            return failure
        return tenant_safe(failure)

    async def _connected(self) -> _Client:
        """A client connected to the server (its greeting read): directly to the
        platform's own server; to a vetted address of a tenant's."""
        host, port = self.settings.SMTP_HOST or "", self.settings.SMTP_PORT
        timeout = self.settings.SMTP_TIMEOUT_SECONDS
        options: dict[str, Any] = {
            "timeout": timeout,
            "use_tls": self.settings.smtp_implicit_tls,
            "start_tls": False,  # upgraded in _open, where "required" is enforced
            "tls_context": self.tls_context,
        }
        sock = None
        if self.destination is None:
            client = _Client(hostname=host, port=port, **options)
        else:
            sock = await self.destination.connect(host, port, timeout)
            # The name stays the TLS server name: the certificate is checked against it.
            client = _Client(hostname=host.strip("[]"), sock=sock, **options)
        try:
            await client.connect()
        except BaseException:
            client.close()
            if sock is not None:
                sock.close()  # a transport that never started did not take it over
            raise
        return client

    async def _open(self, client: _Client) -> None:
        if self.settings.SMTP_STARTTLS and not self.settings.smtp_implicit_tls:
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise DeliveryFailure(
                    "smtp_starttls_unavailable",
                    f"{self.settings.SMTP_HOST} does not offer STARTTLS and SMTP_STARTTLS "
                    "is set: refusing to send in clear",
                    retryable=True,
                )
            await client.starttls()  # forgets the EHLO answer; the next step asks again
        if self.settings.SMTP_USERNAME:
            await client.ehlo()
            if not client.supported_auth_methods:  # no AUTH, or none that both sides speak
                raise DeliveryFailure(
                    "smtp_auth_unavailable",
                    f"{self.settings.SMTP_HOST} offers no usable AUTH and SMTP_USERNAME is set",
                    retryable=True,
                )
            await client.login(self.settings.SMTP_USERNAME, self.settings.SMTP_PASSWORD or "")


# QUITs still going on (kept referenced until they end).
_goodbyes: set[asyncio.Task[None]] = set()


def _say_goodbye_later(client: _Client, delivery_id: str, settings: Settings) -> None:
    task = asyncio.create_task(_quit(client, delivery_id, settings))
    _goodbyes.add(task)
    task.add_done_callback(_goodbyes.discard)


async def _quit(client: _Client, delivery_id: str, settings: Settings) -> None:
    # The server has accepted the message: nothing here may turn it into a failure.
    try:
        await client.quit(timeout=min(QUIT_TIMEOUT_SECONDS, settings.SMTP_TIMEOUT_SECONDS))
    except Exception as exc:
        log.info("delivery %s: sent, but QUIT failed: %r", delivery_id, exc)
    finally:
        client.close()


class _Client(aiosmtplib.SMTP):
    """DATA with the claim in the one place that decides: after the content, before the
    final "." that makes the server take it. A transaction the server never saw end is
    discarded (RFC 5321 4.1.1.4), so a worker lost before the claim leaves nothing sent and
    its retry sends; only from the "." to the recorded reply is the outcome unknown."""

    data_started = False  # the "." went out: a reply lost from here leaves it unknown
    before_data: Callable[[], Awaitable[None]] | None = None

    async def data(self, message: str | bytes, /, **kwargs: Any) -> SMTPResponse:
        if self.protocol is None:
            raise SMTPServerDisconnected("Connection lost")
        content = message.encode("ascii") if isinstance(message, str) else message
        content = _DOT_STUFFING.sub(b"..", _LINE_ENDINGS.sub(b"\r\n", content))
        start = await self.execute_command(b"DATA")
        if start.code != SMTPStatus.start_input:
            raise SMTPDataError(start.code, start.message)
        self.protocol.write(content if content.endswith(b"\r\n") else content + b"\r\n")
        if self.before_data is not None:
            await self.before_data()
        self.data_started = True
        self.protocol.write(b".\r\n")
        reply = await self.protocol.read_response(timeout=self.timeout)
        if reply.code != SMTPStatus.completed:
            raise SMTPDataError(reply.code, reply.message)
        return reply


def classify(exc: BaseException) -> DeliveryFailure | None:
    """The `DeliveryFailure` for an error raised before the message content went out;
    None for anything unexpected (the caller lets it propagate)."""
    if isinstance(exc, TimeoutError):  # first: a connect timeout is also a connect error
        return DeliveryFailure("timeout", str(exc) or "timed out", retryable=True)
    if isinstance(exc, SMTPAuthenticationError):
        # Our credentials, not the recipient: retrying lets an operator fix SMTP_PASSWORD
        # without every reminder due meanwhile failing for good.
        return DeliveryFailure("smtp_auth", exc.message, retryable=True)
    reply: BaseException = exc.recipients[0] if isinstance(exc, SMTPRecipientsRefused) else exc
    if isinstance(reply, SMTPResponseException):
        about_this_message = isinstance(
            reply, SMTPSenderRefused | SMTPRecipientRefused | SMTPDataError
        )
        permanent = about_this_message and 500 <= reply.code < 600 and reply.code != AUTH_REQUIRED
        return DeliveryFailure(f"smtp_{reply.code}", reply.message, retryable=not permanent)
    if isinstance(exc, SMTPNotSupported):
        return DeliveryFailure("smtp_not_supported", exc.message, retryable=False)
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        return DeliveryFailure("tls_error", str(exc), retryable=True)
    if isinstance(exc, SMTPServerDisconnected | SMTPConnectError | OSError):
        return DeliveryFailure("connection_error", str(exc), retryable=True)
    return None


# What each failure is called when the server is a tenant's: the server's own words stay
# out of what the tenant reads (its "SMTP server" could be any service that talks).
_TENANT_WORDING = {
    "timeout": "no answer from the server in time",
    "connection_error": "could not connect to the server, or it closed the connection",
    "tls_error": "the TLS handshake with the server failed",
    "smtp_auth": "the server refused the login",
    "smtp_not_supported": "the server does not support a non-ASCII address",
}


def tenant_safe(failure: DeliveryFailure) -> DeliveryFailure:
    """`failure` with its message replaced by what happened and the SMTP reply code."""
    wording = _TENANT_WORDING.get(failure.code)
    if wording is None and failure.code.startswith("smtp_") and failure.code[5:].isdigit():
        wording = f"the server answered SMTP {failure.code[5:]}"
    if wording is None:
        return failure  # our own words (no_sender, invalid_address, ..._unavailable)
    return DeliveryFailure(failure.code, wording, retryable=failure.retryable)


def _built(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message, or a permanent failure when it cannot be one: nothing has been
    sent, so no retry is owed and the outcome is known."""
    try:
        return build_email(message, sender)
    except (ValueError, TypeError) as exc:
        raise DeliveryFailure(
            "invalid_message", f"the message cannot be built: {exc}", retryable=False
        ) from exc


def header_text(value: str) -> str:
    """Text for a header: line breaks and other control characters become spaces (a
    header holding them would be refused, or worse, split into two headers)."""
    return _CONTROL.sub(" ", value).strip()


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative, and the headers that make
    it a well-behaved automated message."""
    domain = sender.rpartition("@")[2]
    mime = EmailMessage()
    mime["From"] = formataddr((header_text(message.from_name or ""), sender))
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = header_text(message.subject or "") or DEFAULT_SUBJECT
    mime["Date"] = format_datetime(datetime.now(UTC))
    mime["Message-ID"] = f"<{message.delivery_id}@{domain}>"
    mime["Auto-Submitted"] = "auto-generated"
    if message.unsubscribe_url:
        # RFC 8058 one-click: mail clients POST to the URL without opening a page.
        mime["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mime.set_content(message.body)
    mime.add_alternative(render_html(message.body, message.unsubscribe_url), subtype="html")
    return mime


def render_html(body: str, unsubscribe_url: str | None = None) -> str:
    """The body as HTML: escaped, blank-line-separated paragraphs, single newlines kept."""
    text = body.replace("\r\n", "\n").strip()
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    parts = ["<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs]
    if unsubscribe_url:
        href = html.escape(unsubscribe_url, quote=True)
        parts.append(
            f'<p style="font-size:12px;color:#666666"><a href="{href}">Unsubscribe</a></p>'
        )
    return "<!doctype html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"


def _check_address(address: str, field: str) -> None:
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or _ADDRESS_FORBIDDEN.search(address):
        raise DeliveryFailure(
            "invalid_address", f"{field} address {address!r} is not valid", retryable=False
        )
