"""The dashboard's and /metrics' figures, counted in SQL with GROUP BY (read-only).

Deliveries per (channel, status) come from the ledger in `delivery_counts`; what is here
reads the deliveries and reminders themselves. A `business_id` of None counts every
business (the superusers' platform view).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.enums import DeliveryStatus, ReminderStatus
from core.models import Delivery, Reminder

FAILED = (DeliveryStatus.failed.value, DeliveryStatus.undelivered.value)


def _scoped(stmt: Any, column: Any, business_id: uuid.UUID | None) -> Any:
    return stmt if business_id is None else stmt.where(column == business_id)


async def failures_since(
    session: AsyncSession, business_id: uuid.UUID | None, since: datetime
) -> int:
    """Failed and undelivered deliveries made at or after `since`."""
    stmt = select(func.count()).where(Delivery.created_at >= since, Delivery.status.in_(FAILED))
    return int(await session.scalar(_scoped(stmt, Delivery.business_id, business_id)) or 0)


async def reminders_by_status(
    session: AsyncSession, business_id: uuid.UUID | None, now: datetime
) -> list[tuple[str, int, int, int]]:
    """Per status: (status, reminders, scheduled ones due within 24 h, within 7 days)."""

    def due_within(window: timedelta) -> ColumnElement[int]:
        due = and_(
            Reminder.status == ReminderStatus.scheduled.value,
            Reminder.next_fire_at >= now,
            Reminder.next_fire_at < now + window,
        )
        return func.sum(case((due, 1), else_=0))

    stmt = _scoped(
        select(
            Reminder.status,
            func.count().label("n"),
            due_within(timedelta(hours=24)).label("day"),
            due_within(timedelta(days=7)).label("week"),
        ),
        Reminder.business_id,
        business_id,
    ).group_by(Reminder.status)
    return [
        (status, n, int(day or 0), int(week or 0))
        for status, n, day, week in (await session.execute(stmt)).all()
    ]


def _day_expression(
    dialect: str, zone: str, dates: list[date], bounds: list[datetime]
) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.timezone(zone, Delivery.created_at), Date)
    # Rows are already within [bounds[0], bounds[-1]); the first boundary above is the day.
    return case(*[(Delivery.created_at < end, d) for d, end in zip(dates, bounds[1:], strict=True)])


async def deliveries_per_day(
    session: AsyncSession,
    business_id: uuid.UUID | None,
    zone: str,
    dates: list[date],
    bounds: list[datetime],
) -> list[tuple[date, str, int]]:
    """(local day, status, deliveries) for deliveries made within [bounds[0], bounds[-1]),
    `bounds` being the UTC instants at which each of `dates` (and the day after) starts in
    `zone`. One query: PostgreSQL groups by `timezone(zone, created_at)::date`; SQLite, with
    no zone data, by a CASE over those boundaries."""
    dialect = session.get_bind().dialect.name
    # A subquery, so the GROUP BY names the day's column instead of repeating its
    # parameters (PostgreSQL would not see two bound zones as the same expression).
    rows = _scoped(
        select(_day_expression(dialect, zone, dates, bounds).label("day"), Delivery.status).where(
            Delivery.created_at >= bounds[0], Delivery.created_at < bounds[-1]
        ),
        Delivery.business_id,
        business_id,
    ).subquery()
    stmt = select(rows.c.day, rows.c.status, func.count()).group_by(rows.c.day, rows.c.status)
    return [
        (date.fromisoformat(day) if isinstance(day, str) else day, status, n)
        for day, status, n in (await session.execute(stmt)).all()
    ]


async def reminder_counts(session: AsyncSession) -> dict[str, int]:
    """Every business's reminders per status (for /metrics)."""
    stmt = select(Reminder.status, func.count()).group_by(Reminder.status)
    return {status: count for status, count in (await session.execute(stmt)).all()}
