"""What staff may do to a client's opt-outs: add them, and take back the ones staff made;
never lift one the client made themselves (STOP, the unsubscribe link), which only the
client can (START, the link's page). Every change staff make is in the audit log.

"Made by the client" is a suppression of the address (core/unsubscribe.py), so it holds
for whichever client record carries the address: a new or re-imported record with that
email or number starts opted out of the channel.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from core import webhook_events
from core.enums import Channel
from core.models import Client
from core.repositories.clients import SuppressionRepository
from core.unsubscribe import address_for

Pair = tuple[str, str]  # (channel, address)
HOW_TO_REJOIN = {
    "email": "the 'Subscribe again' button on the page their unsubscribe link opens",
    "sms": "replying START",
    "whatsapp": "replying START",
}


def pairs_of(clients: Iterable[Client]) -> set[Pair]:
    """Every (channel, address) the clients could be messaged at."""
    return {
        (channel.value, address)
        for client in clients
        for channel in Channel
        if (address := address_for(client, channel.value))
    }


async def suppressed_pairs(session: AsyncSession, actor: Actor, pairs: set[Pair]) -> set[Pair]:
    return set(await SuppressionRepository(session).find(actor.business_id, pairs))


def lifted_by_staff(client: Client, before: list[str], suppressed: set[Pair]) -> str | None:
    """Why the client's changed opt-outs may not stand, or None when they may: they must
    keep every channel (of `before`) the client opted out of themselves."""
    for channel in sorted(set(before) - set(client.opted_out_channels or [])):
        if (channel, address_for(client, channel)) in suppressed:
            return (
                f"opted_out_channels: the client opted out of {channel} themselves; only they "
                f"can opt back in, by {HOW_TO_REJOIN[channel]}"
            )
    return None


def enforce(client: Client, suppressed: set[Pair]) -> None:
    """Opt the client out of every channel whose address is suppressed (a new address, a
    new record for an address that opted out)."""
    current = list(client.opted_out_channels or [])
    added = [
        channel.value
        for channel in Channel
        if channel.value not in current
        and (channel.value, address_for(client, channel.value)) in suppressed
    ]
    if added:
        client.opted_out_channels = current + added


async def emit_opt_outs(session: AsyncSession, client: Client, before: list[str]) -> None:
    """A `client.opted_out` webhook event per channel staff opted the client out of."""
    for channel in sorted(set(client.opted_out_channels or []) - set(before)):
        await webhook_events.emit(
            session,
            client.business_id,
            webhook_events.CLIENT_OPTED_OUT,
            {"client_id": client.id, "channel": channel, "source": "staff"},
        )


def record_changes(session: AsyncSession, actor: Actor, client: Client, before: list[str]) -> None:
    """An audit event per channel staff opted the client out of or back into."""
    after = list(client.opted_out_channels or [])
    for channel in sorted(set(after) ^ set(before)):
        action = "client.opted_out" if channel in after else "client.opted_in"
        actor.record(session, action, "client", client.id, channel=channel, source="staff")
