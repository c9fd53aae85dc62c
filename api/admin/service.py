"""Platform administration: every account and business, deactivation, password resets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from api.admin.schemas import AdminUserUpdate, BusinessAdminRead, PasswordResetRead
from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.errors import Conflict, NotFound
from core.enums import ReminderStatus
from core.events import record_event
from core.models import Business, Client, Membership, Reminder, User
from core.repositories.base import escape_like, paginate
from core.repositories.users import RefreshTokenRepository, UserRepository
from core.security import create_password_reset_token
from core.settings import Settings
from core.types import utcnow

ACTIVE_REMINDERS = (ReminderStatus.scheduled.value, ReminderStatus.paused.value)


@dataclass
class UserFilters:
    email: str | None = None
    business_id: uuid.UUID | None = None
    is_active: bool | None = None


def _users_query(filters: UserFilters) -> Select[Any]:
    stmt = select(User).options(selectinload(User.membership))
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


async def list_users(
    session: AsyncSession, filters: UserFilters, limit: int, offset: int
) -> tuple[list[UserRead], int]:
    rows, total = await paginate(session, _users_query(filters), limit, offset)
    return [user_read(user) for user in rows], total


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


def _business_of(user: User) -> uuid.UUID | None:
    return user.membership.business_id if user.membership is not None else None


async def update_user(
    session: AsyncSession, admin: User, user: User, data: AdminUserUpdate
) -> UserRead:
    """Rename, deactivate or reactivate an account. Deactivation ends its access at once
    (every request checks `is_active`) and revokes its refresh tokens."""
    if data.full_name is not None:
        user.full_name = data.full_name
    if data.is_active is not None and data.is_active != user.is_active:
        if not data.is_active and user.id == admin.id:
            raise Conflict("You cannot deactivate your own account")
        user.is_active = data.is_active
        if not data.is_active:
            await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
        record_event(
            session,
            "admin.user_reactivated" if data.is_active else "admin.user_deactivated",
            business_id=_business_of(user),
            actor_user_id=admin.id,
            subject_type="user",
            subject_id=user.id,
            payload={"email": user.email},
        )
    return user_read(user)


def issue_password_reset(
    session: AsyncSession, admin: User, user: User, settings: Settings
) -> PasswordResetRead:
    """A one-time reset link: signed, expiring, and tied to the current password hash,
    so it stops working once the password changes (its own use included)."""
    expires_at = (utcnow() + timedelta(hours=settings.PASSWORD_RESET_HOURS)).replace(microsecond=0)
    token = create_password_reset_token(
        user.id, user.hashed_password, settings.SECRET_KEY, expires_at
    )
    record_event(
        session,
        "admin.password_reset_issued",
        business_id=_business_of(user),
        actor_user_id=admin.id,
        subject_type="user",
        subject_id=user.id,
        payload={"email": user.email, "expires_at": expires_at.isoformat()},
    )
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return PasswordResetRead(
        # In the fragment: a browser never sends it, so no server or proxy log holds it.
        reset_url=f"{base}/admin/reset-password#{urlencode({'token': token})}",
        token=token,
        expires_at=expires_at,
    )


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


async def list_businesses(
    session: AsyncSession, limit: int, offset: int
) -> tuple[list[BusinessAdminRead], int]:
    total = int(await session.scalar(select(func.count()).select_from(Business)) or 0)
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
    items = [
        BusinessAdminRead(
            id=business.id,
            name=business.name,
            timezone=business.timezone,
            created_at=business.created_at,
            members=members,
            clients=clients,
            active_reminders=active,
        )
        for business, members, clients, active in (await session.execute(stmt)).all()
    ]
    return items, total
