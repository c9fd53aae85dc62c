"""What the web dashboard's pages list, read in a few grouped queries per page (read-only).

Scoped like the API: a business's pages read only its rows; `None` (a superuser's view of
every business) is accepted only where a page says so. Rows carry the names a page shows
beside them (client, reminder, business), joined in the same statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.enums import ReminderStatus
from core.models import Business, Client, Delivery, Reminder
from core.repositories.base import Total, count_capped
from core.repositories.clients import client_matches
from core.repositories.dashboard import FAILED

ACTIVE = (ReminderStatus.scheduled.value, ReminderStatus.paused.value)


@dataclass
class DeliveryRow:
    delivery: Delivery
    client_name: str | None
    reminder_title: str | None
    business_name: str | None


@dataclass
class BusinessRow:
    business: Business
    clients: int
    active_reminders: int
    deliveries: int
    failed: int


def _delivery_rows(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.outerjoin(Client, Client.id == Delivery.client_id)
        .outerjoin(Reminder, Reminder.id == Delivery.reminder_id)
        .join(Business, Business.id == Delivery.business_id)
        .add_columns(Client.name, Reminder.title, Business.name)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
    )


async def _page(
    session: AsyncSession, stmt: Any, limit: int, offset: int
) -> tuple[list[Any], Total]:
    """One page of a multi-column query's rows and how many rows it matches (up to the
    API's COUNT_CAP: the pager then says "10000+")."""
    total = await count_capped(session, stmt)
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return list(rows), total


async def failed_deliveries(
    session: AsyncSession, business_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[DeliveryRow], Total]:
    """Failed and undelivered deliveries, newest first, with who and what they were for."""
    stmt = select(Delivery).where(Delivery.status.in_(FAILED))
    if business_id is not None:
        stmt = stmt.where(Delivery.business_id == business_id)
    rows, total = await _page(session, _delivery_rows(stmt), limit, offset)
    return [DeliveryRow(*row) for row in rows], total


async def reminder_deliveries(
    session: AsyncSession, business_id: uuid.UUID, reminder_id: uuid.UUID, limit: int
) -> tuple[list[DeliveryRow], Total]:
    """The reminder's newest deliveries."""
    stmt = select(Delivery).where(
        Delivery.reminder_id == reminder_id, Delivery.business_id == business_id
    )
    rows, total = await _page(session, _delivery_rows(stmt), limit, 0)
    return [DeliveryRow(*row) for row in rows], total


async def business_rows(session: AsyncSession) -> list[BusinessRow]:
    """Every business with its clients, active reminders, deliveries and failures."""

    def counts(column: Any, *extra: Any) -> Select[Any]:
        return select(column.label("business_id"), *extra).group_by(column)

    clients = counts(Client.business_id, func.count().label("n")).subquery()
    reminders = counts(
        Reminder.business_id,
        func.sum(case((Reminder.status.in_(ACTIVE), 1), else_=0)).label("n"),
    ).subquery()
    deliveries = counts(
        Delivery.business_id,
        func.count().label("n"),
        func.sum(case((Delivery.status.in_(FAILED), 1), else_=0)).label("failed"),
    ).subquery()
    stmt = (
        select(Business, clients.c.n, reminders.c.n, deliveries.c.n, deliveries.c.failed)
        .outerjoin(clients, clients.c.business_id == Business.id)
        .outerjoin(reminders, reminders.c.business_id == Business.id)
        .outerjoin(deliveries, deliveries.c.business_id == Business.id)
        .order_by(Business.name, Business.id)
    )
    return [
        BusinessRow(b, int(c or 0), int(r or 0), int(d or 0), int(f or 0))
        for b, c, r, d, f in (await session.execute(stmt)).all()
    ]


async def reminders_page(
    session: AsyncSession,
    business_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Reminder, str]], Total]:
    """Reminders newest first, with their business's name."""
    stmt = select(Reminder, Business.name).join(Business, Business.id == Reminder.business_id)
    if business_id is not None:
        stmt = stmt.where(Reminder.business_id == business_id)
    if status is not None:
        stmt = stmt.where(Reminder.status == status)
    stmt = stmt.order_by(Reminder.created_at.desc(), Reminder.id.desc())
    rows, total = await _page(session, stmt, limit, offset)
    return [(row[0], row[1]) for row in rows], total


async def clients_page(
    session: AsyncSession, business_id: uuid.UUID | None, search: str, limit: int, offset: int
) -> tuple[list[tuple[Client, str]], Total]:
    """Clients by name, with their business's name; `search` as in the API's list."""
    stmt = (
        select(Client, Business.name)
        .join(Business, Business.id == Client.business_id)
        .options(selectinload(Client.tag_rows))
    )
    if business_id is not None:
        stmt = stmt.where(Client.business_id == business_id)
    if search:
        stmt = stmt.where(client_matches(search))
    stmt = stmt.order_by(func.lower(Client.name), Client.name, Client.id)
    rows, total = await _page(session, stmt, limit, offset)
    return [(row[0], row[1]) for row in rows], total
