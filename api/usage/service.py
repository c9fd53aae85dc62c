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
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Unprocessable
from api.usage.schemas import (
    BusinessUsageRead,
    ChannelUsage,
    SmsUsage,
    UsageByChannel,
    UsageRead,
)
from core.enums import Channel, DeliveryStatus
from core.models import Business, Delivery, VerificationSend

HANDED_TO_PROVIDER = (
    DeliveryStatus.sent.value,
    DeliveryStatus.delivered.value,
    DeliveryStatus.undelivered.value,
    DeliveryStatus.failed.value,
)
# A delivery is sent at most this long after its row is made (held for the send window, a
# rate-limit slot, retries): lets the query use the (business_id, created_at) index.
SEND_LAG = timedelta(days=7)


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
    sent_at = func.coalesce(Delivery.sent_at, Delivery.created_at)
    stmt = (
        select(
            Delivery.business_id,
            Delivery.channel,
            func.count(),
            func.coalesce(func.sum(Delivery.segments), 0),
        )
        .where(
            Delivery.business_id.in_(business_ids),
            Delivery.created_at >= starts - SEND_LAG,
            Delivery.created_at < ends,
            sent_at >= starts,
            sent_at < ends,
            Delivery.status.in_(HANDED_TO_PROVIDER),
            Delivery.provider_message_id.is_not(None),
        )
        .group_by(Delivery.business_id, Delivery.channel)
    )
    found: dict[uuid.UUID, dict[str, list[int]]] = defaultdict(_empty)
    for business_id, channel, messages, segments in (await session.execute(stmt)).all():
        found[business_id].setdefault(channel, [0, 0, 0])
        found[business_id][channel][:2] = [int(messages), int(segments or 0)]
    codes = (
        select(
            VerificationSend.business_id,
            VerificationSend.channel,
            func.count(),
            func.coalesce(func.sum(VerificationSend.segments), 0),
        )
        .where(
            VerificationSend.business_id.in_(business_ids),
            VerificationSend.sent_at >= starts,
            VerificationSend.sent_at < ends,
        )
        .group_by(VerificationSend.business_id, VerificationSend.channel)
    )
    for business_id, channel, sent, segments in (await session.execute(codes)).all():
        counts = found[business_id].setdefault(channel, [0, 0, 0])
        counts[0] += int(sent)
        counts[1] += int(segments or 0)
        counts[2] += int(sent)
    return found


async def business_usage(session: AsyncSession, business: Business, month: Month) -> UsageRead:
    counts = await _counts(session, [business.id], month, business.timezone)
    return _read(month, business.timezone, counts.get(business.id) or _empty())


async def businesses_usage(
    session: AsyncSession, month: Month, limit: int, offset: int
) -> tuple[list[BusinessUsageRead], int]:
    """Every business's usage (a page of them, by name), each in its own time zone: one
    query per time zone among them."""
    total = int(await session.scalar(select(func.count()).select_from(Business)) or 0)
    stmt = select(Business).order_by(Business.name, Business.id).limit(limit).offset(offset)
    businesses = list((await session.scalars(stmt)).all())
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
