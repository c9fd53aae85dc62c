"""What sending through a business's own account (its SMTP server, its Twilio account)
shares, whichever the provider: reading the account for the delivery, opening its stored
secret for one send, and treating a refusal of the business's credentials as permanent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.providers import DeliveryFailure, OutgoingMessage, Provider, ProviderResult
from core.crypto import SecretUnreadable, secret_box
from core.settings import Settings


@asynccontextmanager
async def reading(
    sessionmaker: async_sessionmaker[AsyncSession], what: str
) -> AsyncIterator[AsyncSession]:
    """A session to read the business's `what` in; a database error is a retryable failure:
    nothing was sent, so a retry may send (unlike an error from the provider itself)."""
    try:
        async with sessionmaker() as session:
            yield session
    except Exception as exc:
        raise DeliveryFailure(
            "configuration_unavailable",
            f"could not read the business's {what}: {exc.__class__.__name__}",
            retryable=True,
        ) from exc


def open_secret(settings: Settings, token: str, owner: str) -> str:
    """The stored secret in clear, for one send. One that no key in ENCRYPTION_KEYS opens
    fails the delivery for good: no retry brings the key back."""
    try:
        return secret_box(settings).decrypt(token)
    except SecretUnreadable as exc:
        raise DeliveryFailure("secret_unreadable", f"{owner}: {exc}", retryable=False) from None


async def send_as_business(
    provider: Provider, message: OutgoingMessage, refused: Collection[str], owner: str
) -> ProviderResult:
    """Send with a provider made for this one message, then close it. A failure whose code
    is in `refused` (the business's own credentials turned down) is made permanent and
    names `owner`: retrying cannot fix a business's wrong password or token, and the owner
    sees it on the delivery."""
    try:
        return await provider.send(message)
    except DeliveryFailure as failure:
        if failure.code in refused:
            raise DeliveryFailure(
                failure.code, f"{owner}: {failure.message}", retryable=False
            ) from failure
        raise
    finally:
        await provider.close()
