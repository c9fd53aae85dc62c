"""Providers behind one small interface; the channel activities do not know which one runs.

A provider either returns a `ProviderResult` (the provider accepted the message), raises
`DeliveryFailure` (the provider definitely did not take it, classified as retryable or
permanent), or raises anything else, which the caller must treat as "outcome unknown".

Right before the step after which the message may have left (SMTP's DATA, Twilio's POST,
nothing for the sandbox), a provider calls `message.claim()`: the delivery book records
there that this attempt owns the send. A crash before it leaves nothing to doubt, so the
retry just sends. After it, `find` asks the provider whether the message arrived (Twilio
can list its messages; an SMTP server cannot be asked: None, the outcome stays unknown).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


async def _no_claim() -> None:
    return None


@dataclass
class OutgoingMessage:
    channel: str  # email | sms | whatsapp
    to: str  # an email address, or an E.164 number (no "whatsapp:" prefix)
    subject: str | None
    body: str  # plain text
    delivery_id: str
    # Email: the sender identity, and where a one-click unsubscribe goes.
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    unsubscribe_url: str | None = None
    # Email: the business's SMTP server (an email configuration id) the reminder or its
    # sender identity names; None: the business's default server, else the platform's.
    email_configuration_id: str | None = None
    # SMS and WhatsApp: a from-number (E.164, no prefix) or a messaging service.
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # WhatsApp outside the 24-hour session: an approved template and its variables.
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)
    # Where the provider reports delivery status (Twilio's StatusCallback).
    status_callback: str | None = None
    # Called right before the point of no return (see the module's docstring); raises when
    # another attempt owns the send, and the provider then sends nothing.
    claim: Callable[[], Awaitable[None]] = field(default=_no_claim, repr=False, compare=False)


@dataclass
class ProviderResult:
    provider_message_id: str
    # "delivered" when the provider confirms at once (sandbox), else "sent" until a callback.
    status: str
    # SMS segments the provider will bill, when it says (Twilio's `num_segments`).
    segments: int | None = None


class DeliveryFailure(Exception):
    """The provider did not take the message, and we know it.

    `retryable`: an outage, a timeout, a 429 or 5xx, an SMTP 4xx: try again later.
    Otherwise permanent: an invalid or unsubscribed address, a rejected message, an SMTP
    5xx. `code` is the provider's own (Twilio's "21211", "smtp_550", "http_503", "timeout").
    `opt_out`: the provider says the recipient unsubscribed (Twilio 21610): opt the client
    out of the channel. `retry_after`: seconds the provider asked us to wait, if it said.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        opt_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.opt_out = opt_out
        self.retry_after = retry_after

    def __repr__(self) -> str:
        kind = "retryable" if self.retryable else "permanent"
        return f"DeliveryFailure({self.code!r}, {self.message!r}, {kind})"


class Provider(Protocol):
    name: str

    async def send(self, message: OutgoingMessage) -> ProviderResult: ...

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        """The messages to this address, like `message`, that the provider took since
        `since` (oldest first); None when the provider cannot tell."""
        ...

    async def close(self) -> None: ...


class SandboxProvider:
    """Nothing leaves the machine: the rendered message is recorded as delivered."""

    name = "sandbox"

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        await message.claim()
        return ProviderResult(provider_message_id=f"sandbox-{uuid.uuid4().hex}", status="delivered")

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return []  # nothing ever leaves: sending again costs nobody a duplicate

    async def close(self) -> None:
        return None
