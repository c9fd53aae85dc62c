"""Proving a sender identity's address or number with a one-time code.

`send_code` sends a 6-digit code to the identity itself (an email to its `from_email`, an
SMS or WhatsApp message to its `from_number`) through the platform's own provider, the one
the worker uses (`*_BACKEND`); `confirm_code` marks the identity verified when that code
comes back. Only an HMAC of the code is stored (keyed with SECRET_KEY, bound to the
identity), with its expiry and the tries made; a new code replaces the pending one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.errors import BadGateway, BadRequest, ServiceUnavailable, Unprocessable
from api.throttle import TooManyRequests
from channels import build_provider
from channels.providers import (
    DeliveryFailure,
    OutgoingMessage,
    Provider,
    ProviderResult,
    SandboxProvider,
)
from core.enums import Channel
from core.models import SenderIdentity, VerificationSend
from core.repositories.sender_identities import (
    SenderIdentityRepository,
    VerificationSendRepository,
)
from core.settings import Settings
from core.types import utcnow

log = logging.getLogger(__name__)

CODE_DIGITS = 6
MAX_ATTEMPTS = 5  # wrong tries before a code stops working
MAX_CODES_PER_WINDOW = 5  # codes sent to one identity per window
WINDOW = timedelta(hours=1)
DAY = timedelta(days=1)
SUBJECT = "Your verification code"


class WrongCode(BadRequest):
    def __init__(self, detail: str, attempts_left: int) -> None:
        super().__init__(detail)
        self.attempts_left = attempts_left

    def content(self) -> dict[str, Any]:
        return {**super().content(), "attempts_left": self.attempts_left}


@dataclass(frozen=True)
class CodeSent:
    sent_to: str  # masked
    expires_at: datetime


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(settings: Settings, identity_id: uuid.UUID, code: str) -> str:
    message = f"sender-verification:{identity_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def mask(destination: str) -> str:
    """o***e@example.com, +44*******456: enough to recognise, not to harvest."""
    local, at, domain = destination.rpartition("@")
    if at:
        return f"{local[0]}***{local[-1] if len(local) > 1 else ''}@{domain}"
    return destination[:3] + "*" * max(len(destination) - 6, 1) + destination[-3:]


def code_provider(settings: Settings, channel: str) -> Provider:
    """The platform's provider for `channel`: the one the worker would send with."""
    return build_provider(settings, channel)


def destination_digest(settings: Settings, destination: str) -> str:
    """Names a destination for counting, without keeping it: an HMAC keyed for this one
    purpose, the same for every business that sends it codes."""
    key = hmac.new(settings.SECRET_KEY.encode(), b"verification-destination-v1", hashlib.sha256)
    normalised = destination.strip().lower().encode()
    return hmac.new(key.digest(), normalised, hashlib.sha256).hexdigest()


def _destination(identity: SenderIdentity) -> str:
    destination = identity.from_email if identity.channel == Channel.email else identity.from_number
    if not destination:
        raise Unprocessable(
            f"This {identity.channel} identity has no from_number to send a code to "
            "(it sends through a messaging service)"
        )
    return destination


@dataclass(frozen=True)
class _Limit:
    setting: str  # the setting that holds the number, named in the refusal
    window: timedelta
    of_business: bool  # counted for the business, else for the destination

    def most(self, settings: Settings) -> int:
        return int(getattr(settings, self.setting))


_LIMITS = (
    _Limit("VERIFICATION_CODES_PER_DESTINATION_HOURLY", WINDOW, of_business=False),
    _Limit("VERIFICATION_CODES_PER_DESTINATION_DAILY", DAY, of_business=False),
    _Limit("VERIFICATION_CODES_PER_BUSINESS_DAILY", DAY, of_business=True),
)


async def _check_limits(
    sends: VerificationSendRepository,
    settings: Settings,
    digest: str,
    business_id: uuid.UUID,
    now: datetime,
) -> None:
    """429 once a destination or a business has had its codes for the window: deleting and
    re-creating an identity, or naming the number in another business, resets nothing."""
    for limit in _LIMITS:
        if limit.of_business:
            count, earliest = await sends.window(now - limit.window, business_id=business_id)
        else:
            count, earliest = await sends.window(now - limit.window, destination_digest=digest)
        most = limit.most(settings)
        if count >= most:
            wait = max(1, math.ceil(((earliest or now) + limit.window - now).total_seconds()))
            who = "for this business" if limit.of_business else "to this address or number"
            per = "hour" if limit.window == WINDOW else "day"
            raise TooManyRequests(
                f"At most {most} verification codes a {per} go {who} ({limit.setting}); "
                f"try again in {wait} seconds",
                retry_after=wait,
            )


def _check_rate(identity: SenderIdentity, now: datetime) -> None:
    started = identity.verification_window_started_at
    if started is None or now - started >= WINDOW:
        return
    if identity.verification_sent_count >= MAX_CODES_PER_WINDOW:
        wait = max(1, math.ceil((started + WINDOW - now).total_seconds()))
        raise TooManyRequests(
            f"At most {MAX_CODES_PER_WINDOW} codes an hour go to one identity; "
            f"try again in {wait} seconds",
            retry_after=wait,
        )


def _message(identity: SenderIdentity, to: str, code: str, minutes: int) -> OutgoingMessage:
    text = f"Your verification code is {code}. It expires in {minutes} minutes."
    if identity.channel == Channel.email:
        text += (
            f"\n\nEnter it to confirm that reminders may be sent from {to}. If you did not "
            "expect this message, ignore it: nothing is sent from this address without it."
        )
    return OutgoingMessage(
        channel=identity.channel,
        to=to,
        subject=SUBJECT if identity.channel == Channel.email else None,
        body=text,
        delivery_id=f"verify-{uuid.uuid4().hex}",
    )


async def _deliver(
    settings: Settings, message: OutgoingMessage, identity_id: uuid.UUID
) -> ProviderResult:
    provider = code_provider(settings, message.channel)
    try:
        result = await provider.send(message)
    except DeliveryFailure as exc:
        if exc.retryable:
            raise ServiceUnavailable(
                f"The {message.channel} provider could not take the code now "
                f"({exc.code}: {exc.message}); try again shortly"
            ) from exc
        raise BadGateway(
            f"The {message.channel} provider refused the code ({exc.code}: {exc.message})"
        ) from exc
    except Exception as exc:
        log.warning("verification code for %s: outcome unknown: %r", identity_id, exc)
        raise BadGateway(
            f"Sending the code by {message.channel} failed; request a new code"
        ) from exc
    finally:
        await provider.close()
    if isinstance(provider, SandboxProvider) and not settings.is_production:
        # Nothing left the machine (sandbox backend): the log is the only way to the code.
        log.info("sandbox: verification code for sender identity %s: %s", identity_id, message.body)
    return result


async def send_code(
    session: AsyncSession, actor: Actor, identity: SenderIdentity, settings: Settings
) -> CodeSent:
    """Send a new code to the identity (replacing a pending one); nothing is stored when
    the provider does not take it."""
    now = utcnow()
    destination = _destination(identity)
    _check_rate(identity, now)
    digest = destination_digest(settings, destination)
    sends = VerificationSendRepository(session)
    await sends.serialize(digest, str(identity.business_id))
    await _check_limits(sends, settings, digest, identity.business_id, now)
    code = new_code()
    minutes = settings.VERIFICATION_CODE_MINUTES
    sent = await _deliver(settings, _message(identity, destination, code, minutes), identity.id)
    sends.add(
        VerificationSend(
            business_id=identity.business_id,
            identity_id=identity.id,
            channel=identity.channel,
            destination_digest=digest,
            segments=sent.segments,
            sent_at=now,
        )
    )
    started = identity.verification_window_started_at
    if started is None or now - started >= WINDOW:
        identity.verification_window_started_at = now
        identity.verification_sent_count = 0
    identity.verification_sent_count += 1
    identity.verification_code_hash = hash_code(settings, identity.id, code)
    identity.verification_expires_at = now + timedelta(minutes=minutes)
    identity.verification_attempts = 0
    actor.record(
        session,
        "sender_identity.verification_sent",
        "sender_identity",
        identity.id,
        channel=identity.channel,
    )
    await session.commit()
    return CodeSent(sent_to=mask(destination), expires_at=identity.verification_expires_at)


async def confirm_code(
    session: AsyncSession,
    actor: Actor,
    identity: SenderIdentity,
    code: str,
    settings: Settings,
) -> SenderIdentity:
    """Mark the identity verified when `code` is its pending code; every try counts."""
    try:
        await _use_code(session, identity, code, settings)
    except BadRequest:
        await session.commit()  # a wrong code still uses up a try
        raise
    actor.record(
        session,
        "sender_identity.verified",
        "sender_identity",
        identity.id,
        channel=identity.channel,
    )
    await session.commit()
    return identity


async def _use_code(
    session: AsyncSession, identity: SenderIdentity, code: str, settings: Settings
) -> None:
    """Take a try of the identity's pending code and consume it when `code` is right;
    BadRequest when it is not or no longer works (the try is counted, not committed)."""
    stored = identity.verification_code_hash
    if stored is None:
        raise BadRequest("No code is pending for this identity; request one with /verify")
    if identity.verification_attempts >= MAX_ATTEMPTS:
        raise BadRequest("Too many wrong codes: this one no longer works; request a new code")
    expires_at = identity.verification_expires_at
    now = utcnow()
    if expires_at is None or now >= expires_at:
        raise BadRequest("The code has expired; request a new code")
    repo = SenderIdentityRepository(session)
    tries = await repo.take_code_attempt(identity, stored, MAX_ATTEMPTS)
    if tries is None:  # a parallel request used, replaced or exhausted it
        raise BadRequest("This code no longer works; request a new code")
    if not hmac.compare_digest(hash_code(settings, identity.id, code), stored):
        left = MAX_ATTEMPTS - tries
        if left == 0:
            raise WrongCode("Wrong code, and that was the last try: request a new code", 0)
        raise WrongCode(f"Wrong code; {left} {'try' if left == 1 else 'tries'} left", left)
    if not await repo.consume_code(identity, stored, now):
        raise BadRequest("This code no longer works; request a new code")
