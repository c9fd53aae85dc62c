"""What an unsubscribe link names, and opting its client out of (or back into) its channel."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from core.models import Client
from core.repositories.clients import ClientRepository
from core.repositories.users import BusinessRepository
from core.unsubscribe import read_unsubscribe_token, set_opt_out

INVALID_LINK = "This unsubscribe link is not valid"


@dataclass
class UnsubscribeTarget:
    client: Client
    business_name: str
    channel: str

    @property
    def opted_out(self) -> bool:
        return self.channel in (self.client.opted_out_channels or [])


async def load_target(
    session: AsyncSession, secret: str, token: str, *, for_update: bool = False
) -> UnsubscribeTarget:
    """Who a link unsubscribes from what; 404 for a forged link or a deleted client."""
    found = read_unsubscribe_token(secret, token)
    if found is None:
        raise NotFound(INVALID_LINK)
    client_id, channel = found
    client = await ClientRepository(session).get_unscoped(client_id, for_update=for_update)
    if client is None:
        raise NotFound(INVALID_LINK)
    business = await BusinessRepository(session).get(client.business_id)
    return UnsubscribeTarget(client, business.name if business else "", channel)


async def follow_link(
    session: AsyncSession, secret: str, token: str, *, resubscribe: bool
) -> UnsubscribeTarget:
    """Opt the link's client out of its channel, or back in; doing it again is harmless."""
    target = await load_target(session, secret, token, for_update=True)
    await set_opt_out(
        session,
        target.client,
        target.channel,
        opted_out=not resubscribe,
        source="unsubscribe_link_resubscribed" if resubscribe else "unsubscribe_link",
    )
    await session.commit()
    return target
