"""Reads across every business, for superusers: the admin API's lists, the businesses a
usage page covers, and the web dashboard's business switcher (read-only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from core.enums import ReminderStatus
from core.models import Business, Client, Membership, Reminder, User
from core.repositories.base import Total, escape_like, paginate

ACTIVE_REMINDERS = (ReminderStatus.scheduled.value, ReminderStatus.paused.value)


@dataclass
class UserFilters:
    email: str | None = None  # part of the address, any case
    business_id: uuid.UUID | None = None
    is_active: bool | None = None


@dataclass
class BusinessCounts:
    business: Business
    members: int
    clients: int
    active_reminders: int


def _users_query(filters: UserFilters) -> Select[Any]:
    # Deleted accounts are kept for the audit log only: never listed.
    stmt = select(User).where(User.deleted_at.is_(None)).options(selectinload(User.membership))
    if filters.email:
        pattern = f"%{escape_like(filters.email.lower())}%"
        stmt = stmt.where(func.lower(User.email).like(pattern, escape="\\"))
    if filters.business_id is not None:
        stmt = stmt.join(Membership, Membership.user_id == User.id).where(
            Membership.business_id == filters.business_id
        )
    if filters.is_active is not None:
        stmt = stmt.where(User.is_active.is_(filters.is_active))
    return stmt.order_by(User.created_at, User.id)


async def users_page(
    session: AsyncSession, filters: UserFilters, limit: int, offset: int
) -> tuple[list[User], Total]:
    """Every account matching `filters`, oldest first, with its membership."""
    return await paginate(session, _users_query(filters), limit, offset)


async def count_businesses(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Business)) or 0)


async def businesses_page(session: AsyncSession, limit: int, offset: int) -> list[Business]:
    """A page of every business, by name."""
    stmt = select(Business).order_by(Business.name, Business.id).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def all_businesses(session: AsyncSession) -> list[Business]:
    stmt = select(Business).order_by(Business.name, Business.id)
    return list((await session.scalars(stmt)).all())


def _count(
    model: type[Client] | type[Membership] | type[Reminder], *where: ColumnElement[bool]
) -> ScalarSelect[int]:
    """A correlated count of the business's rows of `model` (one subquery per column)."""
    return (
        select(func.count())
        .select_from(model)
        .where(model.business_id == Business.id, *where)
        .correlate(Business)
        .scalar_subquery()
    )


async def businesses_with_counts(
    session: AsyncSession, limit: int, offset: int
) -> list[BusinessCounts]:
    """A page of every business, by name, with its members, clients and active reminders."""
    stmt = (
        select(
            Business,
            _count(Membership).label("members"),
            _count(Client).label("clients"),
            _count(Reminder, Reminder.status.in_(ACTIVE_REMINDERS)).label("active_reminders"),
        )
        .order_by(Business.name, Business.id)
        .limit(limit)
        .offset(offset)
    )
    return [BusinessCounts(*row) for row in (await session.execute(stmt)).all()]
