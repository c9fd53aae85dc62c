"""Deliveries counted per (business, channel, status) without reading the deliveries.

The database keeps `delivery_counts` as a ledger: its triggers append +n for inserted
deliveries, -n/+n for a status change and -n for deleted ones, in the same transaction as
the change, so the sum per group always equals a COUNT over `deliveries`. Appending never
waits on a lock (an UPDATE of one shared row per business and status would queue a firm's
burst of sends behind each other). `fold` replaces the appended rows by one per group; the
worker runs it every FOLD_SECONDS, so a count sums a few rows per group plus what arrived
since.
"""

from __future__ import annotations

import uuid
from collections import Counter

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import DeliveryCount

# Counts per (channel, status); a group whose deliveries are all gone is absent.
Counts = dict[tuple[str, str], int]

FOLD_SECONDS = 30.0
FOLD_BATCH = 50_000


async def delivery_counts(session: AsyncSession, business_id: uuid.UUID | None) -> Counts:
    """The business's deliveries per (channel, status); every business's for None."""
    stmt = select(DeliveryCount.channel, DeliveryCount.status, func.sum(DeliveryCount.n)).group_by(
        DeliveryCount.channel, DeliveryCount.status
    )
    if business_id is not None:
        stmt = stmt.where(DeliveryCount.business_id == business_id)
    return {(channel, status): int(n) for channel, status, n in await session.execute(stmt) if n}


async def _foldable(session: AsyncSession) -> bool:
    """Whether some group has more than one row (else a fold would rewrite what it has)."""
    groups = select(DeliveryCount.business_id).group_by(
        DeliveryCount.business_id, DeliveryCount.channel, DeliveryCount.status
    )
    rows = await session.scalar(select(func.count()).select_from(DeliveryCount)) or 0
    return rows > (await session.scalar(select(func.count()).select_from(groups.subquery())) or 0)


async def fold(session: AsyncSession, batch: int = FOLD_BATCH) -> int:
    """Replace up to `batch` ledger rows by their sums, one row per group (none where the
    sum is 0), committed; how many rows it took. Rows another fold holds are skipped
    (PostgreSQL), and the rows' removal and their sums commit together, so a count read at
    any moment is the same before, during and after."""
    if not await _foldable(session):
        await session.rollback()
        return 0
    picked = (
        select(DeliveryCount.id)
        .order_by(DeliveryCount.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    taken = await session.execute(
        delete(DeliveryCount)
        .where(DeliveryCount.id.in_(picked))
        .returning(
            DeliveryCount.business_id, DeliveryCount.channel, DeliveryCount.status, DeliveryCount.n
        )
    )
    sums: Counter[tuple[uuid.UUID, str, str]] = Counter()
    rows = 0
    for business_id, channel, status, n in taken:
        sums[(business_id, channel, status)] += n
        rows += 1
    kept = [
        {"business_id": b, "channel": c, "status": s, "n": n} for (b, c, s), n in sums.items() if n
    ]
    if kept:
        await session.execute(insert(DeliveryCount), kept)
    await session.commit()
    return rows
