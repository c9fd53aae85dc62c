"""Who owns a send, and what a retry does about an earlier attempt's claim.

A send is claimed on its delivery row (`send_started_at`, committed) by the provider right
before its point of no return: SMTP's DATA, Twilio's POST (`OutgoingMessage.claim`). The
claim is conditional (only an unclaimed row can be claimed), so two attempts of one
delivery never both send: one that finds the row claimed sends nothing.

A retry that finds an earlier attempt's claim (its worker died, or lost the provider's
answer) finds out before deciding:
- it first waits until that attempt's request must have ended (`lookup_delay` after the
  claim: the provider's own timeout and a third more), so nothing is still on its way;
- then asks the provider (`Provider.find`): a message it took is adopted (the delivery is
  `sent` with its id); none means the provider never got it, and the claim is released
  so that the retry sends;
- a provider that cannot be asked (an SMTP server) leaves the outcome unknown: `failed`
  with `outcome_unknown`, never sent again (at most once), and visible for an operator.

While a send activity runs it heartbeats, so a dead worker's send is retried within the
heartbeat timeout (seconds) rather than its start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from temporalio import activity

from channels.providers import OutgoingMessage, Provider, ProviderResult
from core.models import Delivery
from core.settings import Settings
from core.types import utcnow

# How often a send activity heartbeats; the workflow's heartbeat timeout is a few of these.
HEARTBEAT_SECONDS = 2.0
# A retry looks for an earlier attempt's message this many times the provider's timeout
# after its claim: the request has ended by then, and a third more lets one that was
# still on its way land first.
LOOKUP_AFTER_TIMEOUTS = 4 / 3


class ClaimLost(Exception):
    """Another attempt claimed this delivery's send first: this one sends nothing."""


class OutcomeUnknown(Exception):
    """The provider cannot say whether an earlier attempt's message reached it."""


def lookup_delay(settings: Settings) -> timedelta:
    """After a claim, when the claimed request has certainly ended one way or the other."""
    return timedelta(seconds=settings.TWILIO_TIMEOUT_SECONDS * LOOKUP_AFTER_TIMEOUTS)


async def claim(session: AsyncSession, delivery: Delivery) -> None:
    """Claim the delivery's send for this attempt, committed; ClaimLost if one is held."""
    now = utcnow()
    claimed = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.send_started_at.is_(None))
        .values(send_started_at=now, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ClaimLost(f"delivery {delivery.id} is claimed by another attempt")
    # The row as the database now holds it (not a pending change of the object's).
    set_committed_value(delivery, "send_started_at", now)
    set_committed_value(delivery, "attempts", delivery.attempts + 1)


async def release(session: AsyncSession, delivery: Delivery, held_since: datetime) -> None:
    """Free an earlier attempt's claim the provider proved unused; ClaimLost if the row
    changed meanwhile (another retry decided first)."""
    released = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.send_started_at == held_since)
        .values(send_started_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if released.rowcount != 1:  # type: ignore[attr-defined]
        raise ClaimLost(f"delivery {delivery.id} changed while its claim was looked into")
    set_committed_value(delivery, "send_started_at", None)


async def sent_by_earlier_attempt(
    session: AsyncSession,
    delivery: Delivery,
    message: OutgoingMessage,
    provider: Provider,
    settings: Settings,
) -> ProviderResult | None:
    """The message an earlier, claimed attempt got the provider to take, if any; None when
    the provider says it has none. Raises OutcomeUnknown when it cannot say."""
    held_since = delivery.send_started_at
    assert held_since is not None
    wait = (held_since + lookup_delay(settings) - utcnow()).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)  # heartbeating meanwhile (see `heartbeating`)
    # What the earlier attempt sent is what its row recorded (the client's address or the
    # text may have changed since).
    asked = replace(
        message, to=delivery.to_address or message.to, body=delivery.body or message.body
    )
    found = await provider.find(asked, held_since)
    if found is None:
        raise OutcomeUnknown
    taken = await _recorded_elsewhere(session, delivery, [r.provider_message_id for r in found])
    return next((r for r in found if r.provider_message_id not in taken), None)


async def _recorded_elsewhere(
    session: AsyncSession, delivery: Delivery, message_ids: list[str]
) -> set[str]:
    """Of these provider message ids, those another delivery already holds: two identical
    messages to one address are two deliveries' messages, one each."""
    if not message_ids:
        return set()
    stmt = select(Delivery.provider_message_id).where(
        Delivery.provider_message_id.in_(message_ids), Delivery.id != delivery.id
    )
    return {str(value) for value in (await session.scalars(stmt)).all()}


@contextlib.asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Heartbeat the running activity until the block ends (nothing outside an activity)."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
