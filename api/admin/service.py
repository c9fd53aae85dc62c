"""Platform administration: every account and business, deactivation, password resets."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.schemas import AdminUserUpdate, BusinessAdminRead, PasswordResetRead
from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.errors import Conflict, NotFound
from core.events import record_event
from core.models import User
from core.repositories.platform import (
    UserFilters,
    businesses_with_counts,
    count_businesses,
    users_page,
)
from core.repositories.users import RefreshTokenRepository, UserRepository
from core.security import create_password_reset_token
from core.settings import Settings
from core.types import utcnow


async def list_users(
    session: AsyncSession, filters: UserFilters, limit: int, offset: int
) -> tuple[list[UserRead], int]:
    rows, total = await users_page(session, filters, limit, offset)
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
    read = user_read(user)
    await session.commit()
    return read


async def issue_password_reset(
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
    await session.commit()
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return PasswordResetRead(
        # In the fragment: a browser never sends it, so no server or proxy log holds it.
        reset_url=f"{base}/admin/reset-password#{urlencode({'token': token})}",
        token=token,
        expires_at=expires_at,
    )


async def list_businesses(
    session: AsyncSession, limit: int, offset: int
) -> tuple[list[BusinessAdminRead], int]:
    total = await count_businesses(session)
    items = [
        BusinessAdminRead(
            id=row.business.id,
            name=row.business.name,
            timezone=row.business.timezone,
            created_at=row.business.created_at,
            members=row.members,
            clients=row.clients,
            active_reminders=row.active_reminders,
        )
        for row in await businesses_with_counts(session, limit, offset)
    ]
    return items, total
