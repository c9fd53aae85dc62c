"""A send waits for its slot of the channel's shared send rate (core/ratelimit.py).

A slot close enough is waited for in the activity; a farther one is kept on the row
(`send_slot_at`) and the task handed back to Temporal to come back then, so no worker slot
is held for minutes and the send keeps its place in the queue.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from core.models import Delivery
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.types import utcnow

# The ApplicationError type of a send handed back to wait for its slot.
RATE_LIMITED = "RateLimited"
# The furthest ahead a send reserves its rate-limit slot (and keeps it on its row).
SLOT_HORIZON = 24 * 3600.0
# A kept slot this many seconds past is given up for a new one.
SLOT_TOLERANCE = 1.0


async def wait_for_rate_slot(
    session: AsyncSession, delivery: Delivery, settings: Settings, limiter: RateLimiter
) -> None:
    """Hold the send until the channel's shared rate allows it.

    A slot close enough is waited for here; a farther one is kept on the row and the
    task handed back to Temporal to come back then (no worker slot held for minutes,
    and no new place in the queue on return).
    """
    rate = settings.rate_per_second(delivery.channel)
    if rate <= 0:
        return
    max_wait = settings.SEND_RATE_MAX_WAIT_SECONDS
    now = utcnow()
    kept = delivery.send_slot_at
    if kept is not None and (now - kept).total_seconds() > SLOT_TOLERANCE:
        # Came back well after its slot (the task queue was busy): sending now would
        # bunch with everyone else late, so it queues again like a new send.
        kept = None
    if kept is None:
        reservation = await limiter.reserve(delivery.channel, rate, SLOT_HORIZON)
        wait = reservation.wait
        if not reservation.granted:  # a backlog of more than a day: ask again later
            raise ApplicationError(
                f"{delivery.channel} has more than a day of sends queued",
                type=RATE_LIMITED,
                next_retry_delay=timedelta(seconds=wait),
                category=ApplicationErrorCategory.BENIGN,
            )
        if wait > max_wait:
            delivery.send_slot_at = now + timedelta(seconds=wait)
            await session.commit()
    else:
        wait = (kept - now).total_seconds()
    if wait > max_wait:
        raise ApplicationError(
            f"{delivery.channel} is at its rate limit; this send's slot is at "
            f"{delivery.send_slot_at:%Y-%m-%d %H:%M:%S} UTC",
            type=RATE_LIMITED,
            next_retry_delay=timedelta(seconds=wait - max_wait / 2),
            # Expected under load: not logged as a failure.
            category=ApplicationErrorCategory.BENIGN,
        )
    if wait > 0:
        await asyncio.sleep(wait)
