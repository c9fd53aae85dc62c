"""A client's own "done" link, `{{ done_url }}` in a message: signed, expiring and good for
one purpose (this client, this reminder, this period). No login: the token is the only
credential. Opening it shows a page; only the page's confirming POST marks anything done,
since mail scanners open links. Once the client is done for the period the link shows
that, and cannot be used again.

A token is the reminder id, the client id, the period's due time and the expiry (seconds
since the epoch, 8 bytes each) and a truncated HMAC-SHA256 tag under a key derived from
SECRET_KEY for this one purpose, base64url without padding (86 characters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.settings import Settings

_PURPOSE = b"done-link-v1"
_TAG_BYTES = 16
_DATA = struct.Struct(">16s16sqq")
_TOKEN_CHARS = 86
DONE_PATH = "/api/v1/done/"


@dataclass(frozen=True)
class DoneLink:
    reminder_id: uuid.UUID
    client_id: uuid.UUID
    period: str  # "2027-01-07T09:00:00Z"
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def _tag(secret: str, data: bytes) -> bytes:
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, data, hashlib.sha256).digest()[:_TAG_BYTES]


def _period_key(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_done_token(secret: str, link: DoneLink) -> str:
    period = datetime.fromisoformat(link.period.removesuffix("Z") + "+00:00")
    data = _DATA.pack(
        link.reminder_id.bytes,
        link.client_id.bytes,
        int(period.timestamp()),
        int(link.expires_at.timestamp()),
    )
    return _encode(data + _tag(secret, data))


def read_done_token(secret: str, token: str) -> DoneLink | None:
    """What a token was made for, expired or not; None when it is not one of ours."""
    if len(token) != _TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.b64decode(token + "==", altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    data, tag = raw[: _DATA.size], raw[_DATA.size :]
    # Only the one spelling we issue: the last character's unused bits may not differ.
    if _encode(raw) != token:
        return None
    if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, _tag(secret, data)):
        return None
    reminder, client, period, expires = _DATA.unpack(data)
    try:
        return DoneLink(
            reminder_id=uuid.UUID(bytes=reminder),
            client_id=uuid.UUID(bytes=client),
            period=_period_key(datetime.fromtimestamp(period, UTC)),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
    except (OverflowError, OSError, ValueError):
        return None


def done_url(
    settings: Settings, reminder_id: uuid.UUID, client_id: uuid.UUID, period: str, now: datetime
) -> str:
    """The link for one message: valid DONE_LINK_DAYS from when the message is made."""
    expires = now + timedelta(days=settings.DONE_LINK_DAYS)
    token = make_done_token(settings.SECRET_KEY, DoneLink(reminder_id, client_id, period, expires))
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{DONE_PATH}{token}"
