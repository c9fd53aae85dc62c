"""Opting clients out: signed one-click unsubscribe links (List-Unsubscribe, RFC 8058),
and the one way a client's own opt-out or opt-in is recorded, whatever its source.

What a client does themselves (STOP, the unsubscribe link, a carrier's "unsubscribed")
also suppresses their address or number in the business: only they can lift it (START,
or the link's page again). Staff cannot clear it by editing or importing the client, and
a new client record with that address starts opted out (api/clients/service.py).

A token is the client id, the channel and a truncated HMAC-SHA256 tag, base64url-encoded
without padding: about 50 characters, no expiry (a link in an old email must keep working),
and nothing a reader can change without the key. The key is derived from SECRET_KEY for
this one purpose, so a token can never be mistaken for any other signed value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core import webhook_events
from core.enums import Channel
from core.events import record_event
from core.models import Client
from core.repositories.clients import SuppressionRepository
from core.settings import Settings

_PURPOSE = b"unsubscribe-link-v1"
_TAG_BYTES = 16
_ID_BYTES = 16
# Longer than any token we make; anything longer is refused before decoding.
_MAX_TOKEN_CHARS = 100


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _tag(secret: str, data: bytes) -> bytes:
    return hmac.new(_key(secret), data, hashlib.sha256).digest()[:_TAG_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_unsubscribe_token(secret: str, client_id: uuid.UUID, channel: str) -> str:
    """A URL-safe token that proves we issued it for this client and channel."""
    data = client_id.bytes + Channel(channel).value.encode()
    return _encode(data + _tag(secret, data))


def read_unsubscribe_token(secret: str, token: str) -> tuple[uuid.UUID, str] | None:
    """The client id and channel a token was made for, or None if it is not one of ours."""
    if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    data, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    # Only the one spelling we issue: no padding, no variant with other trailing bits.
    if (
        _encode(raw) != token
        or len(data) <= _ID_BYTES
        or not hmac.compare_digest(tag, _tag(secret, data))
    ):
        return None
    try:
        channel = Channel(data[_ID_BYTES:].decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return uuid.UUID(bytes=data[:_ID_BYTES]), channel.value


def unsubscribe_url(settings: Settings, client_id: uuid.UUID, channel: str) -> str:
    """The public link (and List-Unsubscribe target) that opts the client out of `channel`."""
    token = make_unsubscribe_token(settings.SECRET_KEY, client_id, channel)
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/unsubscribe/{token}"


def address_for(client: Client, channel: str) -> str | None:
    """Where a message on `channel` goes, as suppressions key it (emails lower-cased)."""
    address = client.address_on(channel)
    return address.lower() if address and channel == Channel.email else address


async def set_opt_out(
    session: AsyncSession, client: Client, channel: str, *, opted_out: bool, source: str
) -> bool:
    """Opt the client out of (or back into) `channel` at their own request, suppressing
    (or freeing) their address too, with an audit event in the same transaction. Returns
    whether the client changed; doing it twice records one event."""
    address = address_for(client, channel)
    if address:
        suppressions = SuppressionRepository(session)
        if opted_out:
            await suppressions.add(client.business_id, channel, address, source)
        else:
            await suppressions.remove(client.business_id, channel, address)
    current = list(client.opted_out_channels or [])
    if (channel in current) == opted_out:
        return False
    # A new list, not an in-place change: SQLAlchemy only sees a JSON column reassigned.
    client.opted_out_channels = (
        [*current, channel] if opted_out else [c for c in current if c != channel]
    )
    record_event(
        session,
        "client.opted_out" if opted_out else "client.opted_in",
        business_id=client.business_id,
        subject_type="client",
        subject_id=client.id,
        payload={"channel": channel, "source": source},
    )
    if opted_out:
        await webhook_events.emit(
            session,
            client.business_id,
            webhook_events.CLIENT_OPTED_OUT,
            {"client_id": client.id, "channel": channel, "source": source},
        )
    return True


async def is_suppressed(session: AsyncSession, client: Client, channel: str) -> bool:
    """Whether the client's address on `channel` opted out of the business themselves (on
    this record or another one that held the address)."""
    address = address_for(client, channel)
    if not address:
        return False
    found = await SuppressionRepository(session).find(client.business_id, [(channel, address)])
    return bool(found)


async def suppressed_channels(
    session: AsyncSession, clients: list[Client]
) -> dict[Client, set[str]]:
    """For each client, the channels whose address its owner opted out of themselves."""
    found: dict[Client, set[str]] = {}
    by_business: dict[uuid.UUID, list[Client]] = {}
    for client in clients:
        by_business.setdefault(client.business_id, []).append(client)
    for business_id, members in by_business.items():
        pairs = {
            (channel.value, address)
            for client in members
            for channel in Channel
            if (address := address_for(client, channel.value))
        }
        rows = await SuppressionRepository(session).find(business_id, pairs)
        for client in members:
            found[client] = {
                channel.value
                for channel in Channel
                if (channel.value, address_for(client, channel.value)) in rows
            }
    return found
