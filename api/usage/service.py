"""Messages sent per channel in a calendar month of the business's time zone, for billing.

A delivery counts when it was handed to a provider: its status is sent, delivered,
undelivered or failed *and* the provider gave it a message id (`provider_message_id`).
A failure the provider refused (no message id), a skipped or a pending delivery is not
counted. Its moment is when it was sent (`sent_at`), else when it was made. The month is
[local midnight of the 1st, local midnight of the next 1st) turned into UTC instants.
Verification codes sent to prove a sender identity count too (the platform sent them for
the business), and are also shown on their own.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Unprocessable
from api.usage.schemas import (
    BusinessUsageRead,
    ChannelUsage,
    SmsUsage,
    UsageByChannel,
    UsageRead,
)
from core.enums import Channel
from core.models import Business
from core.repositories.platform import businesses_page, count_businesses
from core.repositories.usage import deliveries_sent, verification_codes_sent


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """The month's first instant and the next month's, in UTC, read in `zone`."""
        tz = ZoneInfo(zone)
        first = date(self.year, self.month, 1)
        following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return tuple(  # type: ignore[return-value]
            datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC) for d in (first, following)
        )


def parse_month(value: str | None, zone: str = "UTC", now: datetime | None = None) -> Month:
    """`YYYY-MM`; none: the current month in `zone`. 422 for anything else."""
    if value is None:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone))
        return Month(today.year, today.month)
    parts = value.split("-")
    if (
        len(parts) != 2
        or len(parts[0]) != 4
        or len(parts[1]) != 2
        or not all(p.isascii() and p.isdigit() for p in parts)
        or not 1 <= int(parts[1]) <= 12
        or int(parts[0]) < 1970
    ):
        raise Unprocessable(f"month: must be YYYY-MM (e.g. 2026-11), not {value[:20]!r}")
    return Month(int(parts[0]), int(parts[1]))


def _empty() -> dict[str, list[int]]:
    """Per channel: [messages, segments, verification codes]."""
    return {channel.value: [0, 0, 0] for channel in Channel}


def _read(month: Month, zone: str, counts: dict[str, list[int]]) -> UsageRead:
    starts, ends = month.bounds(zone)
    email, sms, whatsapp = (counts[c.value] for c in (Channel.email, Channel.sms, Channel.whatsapp))
    by_channel = UsageByChannel(
        email=ChannelUsage(messages=email[0], verification_codes=email[2]),
        sms=SmsUsage(messages=sms[0], segments=sms[1], verification_codes=sms[2]),
        whatsapp=ChannelUsage(messages=whatsapp[0], verification_codes=whatsapp[2]),
    )
    return UsageRead(
        month=str(month),
        timezone=zone,
        starts_at=starts,
        ends_at=ends,
        by_channel=by_channel,
        total_messages=sum(c[0] for c in counts.values()),
    )


async def _counts(
    session: AsyncSession, business_ids: list[uuid.UUID], month: Month, zone: str
) -> dict[uuid.UUID, dict[str, list[int]]]:
    """Per business and channel: [messages, segments], in the month as `zone` reads it."""
    starts, ends = month.bounds(zone)
    found: dict[uuid.UUID, dict[str, list[int]]] = defaultdict(_empty)
    for business_id, channel, messages, segments in await deliveries_sent(
        session, business_ids, starts, ends
    ):
        found[business_id].setdefault(channel, [0, 0, 0])
        found[business_id][channel][:2] = [messages, segments]
    for business_id, channel, sent, segments in await verification_codes_sent(
        session, business_ids, starts, ends
    ):
        counts = found[business_id].setdefault(channel, [0, 0, 0])
        counts[0] += sent
        counts[1] += segments
        counts[2] += sent
    return found


async def business_usage(session: AsyncSession, business: Business, month: Month) -> UsageRead:
    counts = await _counts(session, [business.id], month, business.timezone)
    return _read(month, business.timezone, counts.get(business.id) or _empty())


async def businesses_usage(
    session: AsyncSession, month: Month, limit: int, offset: int
) -> tuple[list[BusinessUsageRead], int]:
    """Every business's usage (a page of them, by name), each in its own time zone: one
    query per time zone among them."""
    total = await count_businesses(session)
    businesses = await businesses_page(session, limit, offset)
    by_zone: dict[str, list[uuid.UUID]] = defaultdict(list)
    for business in businesses:
        by_zone[business.timezone].append(business.id)
    counts: dict[uuid.UUID, dict[str, list[int]]] = {}
    for zone, ids in by_zone.items():
        counts.update(await _counts(session, ids, month, zone))
    items = [
        BusinessUsageRead(
            business_id=business.id,
            business_name=business.name,
            **_read(month, business.timezone, counts.get(business.id) or _empty()).model_dump(),
        )
        for business in businesses
    ]
    return items, total
