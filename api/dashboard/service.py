"""Dashboard figures, counted in SQL with GROUP BY (core/repositories/dashboard.py and the
delivery_counts ledger) and cached per business briefly.

Per-day buckets are days of the business's time zone. Each day is [local midnight, next
local midnight), both turned into UTC instants with zoneinfo, so a day around a DST change
is 23 or 25 hours long and still a whole day. PostgreSQL groups by
`timezone(<zone>, created_at)::date` itself; other databases (SQLite) have no time zone
data, so the query maps each row to its day with a CASE over those UTC day boundaries.
Both give the same buckets and run as one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from api.cache import Cache, business_key, cached
from api.dashboard.schemas import (
    ChannelFigures,
    DashboardSummary,
    DashboardTimeseries,
    DayCounts,
    DeliveryFigures,
    ReminderFigures,
)
from core.enums import Channel, DeliveryStatus, ReminderStatus
from core.models import Business
from core.repositories.dashboard import (
    deliveries_per_day,
    failures_since,
    reminders_by_status,
)
from core.repositories.delivery_counts import delivery_counts
from core.types import utcnow

CACHE_TTL = 30.0  # seconds: the dashboard may lag this much behind the deliveries
HANDED_OVER = (
    DeliveryStatus.sent.value,
    DeliveryStatus.delivered.value,
    DeliveryStatus.failed.value,
    DeliveryStatus.undelivered.value,
)

Clock = Callable[[], datetime]
# A business's id, or None for every business (the superusers' platform view).
Scope = uuid.UUID | None
PLATFORM = "platform"


def _cache_key(business_id: Scope, *parts: object) -> str:
    if business_id is None:
        return ":".join([PLATFORM, *(str(part) for part in parts)])
    return business_key(business_id, *parts)


def _zeros(values: type[Channel] | type[DeliveryStatus] | type[ReminderStatus]) -> dict[str, int]:
    return {member.value: 0 for member in values}


# -- summary ----------------------------------------------------------------------------


async def _delivery_figures(session: AsyncSession, business_id: Scope) -> DeliveryFigures:
    """Counts per channel and status, from the ledger the database keeps in step."""
    by_status = _zeros(DeliveryStatus)
    by_channel = {
        name: ChannelFigures(total=0, by_status=_zeros(DeliveryStatus)) for name in _zeros(Channel)
    }
    for (channel, status), n in (await delivery_counts(session, business_id)).items():
        by_status[status] = by_status.get(status, 0) + n
        figures = by_channel.setdefault(
            channel, ChannelFigures(total=0, by_status=_zeros(DeliveryStatus))
        )
        figures.total += n
        figures.by_status[status] = figures.by_status.get(status, 0) + n
    total = sum(by_status.values())
    return DeliveryFigures(total=total, by_status=by_status, by_channel=by_channel)


async def _reminder_figures(
    session: AsyncSession, business_id: Scope, now: datetime
) -> ReminderFigures:
    by_status = _zeros(ReminderStatus)
    day = week = 0
    for status, n, in_day, in_week in await reminders_by_status(session, business_id, now):
        by_status[status] = by_status.get(status, 0) + n
        day += in_day
        week += in_week
    return ReminderFigures(
        total=sum(by_status.values()), by_status=by_status, due_next_24h=day, due_next_7d=week
    )


async def compute_summary(
    session: AsyncSession, business_id: Scope, now: datetime
) -> DashboardSummary:
    deliveries = await _delivery_figures(session, business_id)
    handed_over = sum(deliveries.by_status[status] for status in HANDED_OVER)
    delivered = deliveries.by_status[DeliveryStatus.delivered.value]
    return DashboardSummary(
        deliveries=deliveries,
        delivery_rate=round(delivered / handed_over, 4) if handed_over else None,
        failures_last_24h=await failures_since(session, business_id, now - timedelta(hours=24)),
        reminders=await _reminder_figures(session, business_id, now),
        generated_at=now,
    )


async def summary(
    session: AsyncSession, cache: Cache, business: Business | None, clock: Clock = utcnow
) -> DashboardSummary:
    """The business's summary (every business's for None), at most CACHE_TTL seconds old."""
    business_id = business.id if business is not None else None

    async def compute() -> dict[str, Any]:
        figures = await compute_summary(session, business_id, clock())
        return figures.model_dump(mode="json")

    key = _cache_key(business_id, "dashboard", "summary")
    return DashboardSummary.model_validate(await cached(cache, key, CACHE_TTL, compute))


# -- timeseries -------------------------------------------------------------------------


def local_days(zone: str, days: int, now: datetime) -> tuple[list[date], list[datetime]]:
    """The last `days` local dates up to today, and their days+1 UTC boundaries."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days + 1)]
    bounds = [datetime.combine(d, time(), tzinfo=tz).astimezone(UTC) for d in dates]
    return dates[:-1], bounds


async def compute_timeseries(
    session: AsyncSession, business_id: Scope, zone: str, days: int, now: datetime
) -> DashboardTimeseries:
    dates, bounds = local_days(zone, days, now)
    buckets = {d: _zeros(DeliveryStatus) for d in dates}
    for day, status, n in await deliveries_per_day(session, business_id, zone, dates, bounds):
        if day in buckets:  # PostgreSQL's zone data could differ at the very edge
            buckets[day][status] = buckets[day].get(status, 0) + n
    return DashboardTimeseries(
        timezone=zone,
        days=[DayCounts(date=d, total=sum(c.values()), counts=c) for d, c in buckets.items()],
        generated_at=now,
    )


async def timeseries(
    session: AsyncSession, cache: Cache, business: Business | None, days: int, clock: Clock = utcnow
) -> DashboardTimeseries:
    """Per-day delivery counts (every business's, in UTC, for None), at most CACHE_TTL
    seconds old."""
    business_id = business.id if business is not None else None
    zone = business.timezone if business is not None else "UTC"

    async def compute() -> dict[str, Any]:
        series = await compute_timeseries(session, business_id, zone, days, clock())
        return series.model_dump(mode="json")

    key = _cache_key(business_id, "dashboard", "timeseries", zone, days)
    return DashboardTimeseries.model_validate(await cached(cache, key, CACHE_TTL, compute))
