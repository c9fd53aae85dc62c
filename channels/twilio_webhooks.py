"""What Twilio's callbacks say, in Twilio's words: whose auth token signed a request, a
message status callback as a delivery status, an incoming message's sender, channel and
keyword (STOP, START, HELP, DONE), and the TwiML that answers it.

The HTTP routes are api/webhooks/router.py and what the callbacks change in the database
api/webhooks/service.py; everything here is the Twilio protocol and SMS/WhatsApp rules.
"""

from __future__ import annotations

import logging
import re
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels.twilio_messages import WHATSAPP_PREFIX
from core.crypto import SecretUnreadable, secret_box
from core.enums import Channel, DeliveryStatus
from core.repositories.twilio_credentials import TwilioCredentialsRepository
from core.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
# Present when a Twilio Webhook Rule signs with a SharedKey instead of the Auth Token.
SHARED_KEY_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")

# -- signatures -----------------------------------------------------------------------------


def signed_by_platform(
    settings: Settings, url: str, params: Mapping[str, str], signature: str
) -> bool:
    """Whether the platform's own Twilio account (TWILIO_AUTH_TOKEN) signed the request."""
    token = settings.TWILIO_AUTH_TOKEN
    return bool(token) and RequestValidator(token).validate(url, params, signature)


async def business_signers(
    session: AsyncSession, settings: Settings, params: Mapping[str, str], url: str, signature: str
) -> frozenset[uuid.UUID]:
    """The businesses whose own Twilio account (by the request's AccountSid) signed it."""
    account_sid = (params.get("AccountSid") or "").strip()
    if not _ACCOUNT_SID.fullmatch(account_sid):
        return frozenset()
    box = secret_box(settings)
    # Every business that saved this account, grouped by token: several businesses of one
    # account share its token, which is checked once.
    by_token: dict[str, set[uuid.UUID]] = {}
    for credentials in await TwilioCredentialsRepository(session).for_account(account_sid):
        try:
            token = box.decrypt(credentials.auth_token_encrypted)
        except SecretUnreadable:
            log.error("business %s: its Twilio token cannot be decrypted", credentials.business_id)
            continue
        by_token.setdefault(token, set()).add(credentials.business_id)
    signers: set[uuid.UUID] = set()
    for token, businesses in by_token.items():
        if RequestValidator(token).validate(url, params, signature):
            signers |= businesses
    return frozenset(signers)


# -- status callbacks -----------------------------------------------------------------------

# "The recipient replied STOP": Twilio will refuse every further message to them.
TWILIO_UNSUBSCRIBED = "21610"

STATUS_FROM_TWILIO = {
    "queued": DeliveryStatus.sent,
    "accepted": DeliveryStatus.sent,
    "scheduled": DeliveryStatus.sent,
    "sending": DeliveryStatus.sent,
    "sent": DeliveryStatus.sent,
    "delivered": DeliveryStatus.delivered,
    "read": DeliveryStatus.delivered,
    "undelivered": DeliveryStatus.undelivered,
    "failed": DeliveryStatus.failed,
}


@dataclass(frozen=True)
class StatusReport:
    message_sid: str
    message_status: str
    error_code: str | None = None
    error_message: str | None = None
    # From the StatusCallback URL: finds a delivery whose sid was never recorded.
    delivery_id: uuid.UUID | None = None

    @property
    def status(self) -> DeliveryStatus | None:
        """The delivery status Twilio's status means; None for one we do not track."""
        return STATUS_FROM_TWILIO.get(self.message_status.strip().lower())

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], delivery_id: uuid.UUID | None = None
    ) -> StatusReport:
        """A status callback's form fields (Twilio still sends the older Sms* names)."""
        return cls(
            message_sid=(params.get("MessageSid") or params.get("SmsSid") or "").strip(),
            message_status=params.get("MessageStatus") or params.get("SmsStatus") or "",
            error_code=(params.get("ErrorCode") or "").strip() or None,
            error_message=(params.get("ErrorMessage") or "").strip() or None,
            delivery_id=delivery_id,
        )


# -- incoming messages ----------------------------------------------------------------------

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# The client has done what the reminder they last had asks (ours, not Twilio's).
DONE_WORDS = frozenset({"DONE"})
# These say what they mean whatever follows ("STOP texting me", "HELP, what is this?",
# "Done, sent it this morning"). The others are everyday replies to a reminder ("Cancel
# my appointment", "Yes, see you then") and count only as the whole message, as in
# Twilio's own STOP filtering.
LEADING_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "HELP", "INFO", "DONE"})
KEYWORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS | DONE_WORDS
HELP_TEXT = "Reply DONE when done, STOP to unsubscribe, START to resubscribe."


@dataclass(frozen=True)
class InboundMessage:
    from_: str
    to: str
    body: str
    messaging_service_sid: str | None = None
    # Twilio's id of the message: the same on every retry of its webhook.
    message_sid: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> InboundMessage:
        return cls(
            from_=params.get("From", ""),
            to=params.get("To", ""),
            body=params.get("Body", ""),
            messaging_service_sid=params.get("MessagingServiceSid") or None,
            message_sid=(params.get("MessageSid") or params.get("SmsSid") or "").strip() or None,
        )


def keyword(body: str) -> str | None:
    """The opt-out, opt-in, help or done keyword the message is, if it is one."""
    words = body.split()
    if not words:
        return None
    first = words[0].strip(string.punctuation).upper()
    if first not in KEYWORDS:
        return None
    return first if len(words) == 1 or first in LEADING_WORDS else None


def parse_address(address: str) -> tuple[Channel, str]:
    """("whatsapp", "+44...") for "whatsapp:+44...", else ("sms", the number)."""
    address = address.strip()
    if address.lower().startswith(WHATSAPP_PREFIX):
        return Channel.whatsapp, address[len(WHATSAPP_PREFIX) :].strip()
    return Channel.sms, address


def help_reply(business_names: list[str]) -> str:
    """HELP's answer, in the business's name when exactly one business is concerned."""
    return f"{business_names[0]}: {HELP_TEXT}" if len(business_names) == 1 else HELP_TEXT


def twiml(reply: str | None) -> str:
    """The TwiML answer to an incoming message: the reply, or nothing."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)
