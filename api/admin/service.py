"""Platform administration: every account and business; creating, deactivating and
deleting accounts; password resets."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
    BusinessAdminRead,
    PasswordResetRead,
)
from api.auth.reset_links import issue_reset_link
from api.auth.schemas import UserRead
from api.auth.service import user_read
from api.errors import Conflict, NotFound
from core.enums import Role
from core.events import record_event
from core.models import Membership, User
from core.repositories.platform import (
    UserFilters,
    businesses_with_counts,
    count_businesses,
    users_page,
)
from core.repositories.users import BusinessRepository, RefreshTokenRepository, UserRepository
from core.security import PasswordHasher
from core.settings import Settings
from core.types import utcnow


async def list_users(
    session: AsyncSession, filters: UserFilters, limit: int, offset: int
) -> tuple[list[UserRead], int]:
    rows, total = await users_page(session, filters, limit, offset)
    return [user_read(user) for user in rows], total


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """An account that is not deleted (a deleted one answers like a missing one)."""
    user = await UserRepository(session).get(user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found")
    return user


async def create_user(
    session: AsyncSession, passwords: PasswordHasher, admin: User, data: AdminUserCreate
) -> UserRead:
    """A new account, staff of an existing business when `business_id` names one."""
    users = UserRepository(session)
    if await users.get_by_email(data.email) is not None:
        raise Conflict("An account with this email already exists")
    if (
        data.business_id is not None
        and await BusinessRepository(session).get(data.business_id) is None
    ):
        raise NotFound("Business not found")
    hashed = await passwords.hash(data.password)
    user = await users.add(
        User(
            email=data.email,
            full_name=data.full_name,
            hashed_password=hashed,
            is_superuser=data.is_superuser,
        )
    )
    role = data.role or Role.member
    if data.business_id is not None:
        await users.add_membership(
            Membership(business_id=data.business_id, user_id=user.id, role=role.value)
        )
    record_event(
        session,
        "admin.user_created",
        business_id=data.business_id,
        actor_user_id=admin.id,
        subject_type="user",
        subject_id=user.id,
        payload={
            "email": user.email,
            "role": role.value if data.business_id else None,
            "is_superuser": data.is_superuser,
        },
    )
    loaded = await users.get(user.id)  # with its membership
    assert loaded is not None
    read = user_read(loaded)
    await session.commit()
    return read


async def delete_user(session: AsyncSession, admin: User, user: User) -> None:
    """Delete an account: it ends at once (tokens, sessions, keys) and leaves its
    business, while the audit log keeps naming it (see `UserRepository.mark_deleted`)."""
    if user.id == admin.id:
        raise Conflict("You cannot delete your own account")
    users = UserRepository(session)
    membership = user.membership
    if (
        membership is not None
        and membership.role == Role.owner
        and await users.count_owners(membership.business_id) <= 1
    ):
        raise Conflict("This is the business's last owner: make another owner first")
    record_event(
        session,
        "admin.user_deleted",
        business_id=_business_of(user),
        actor_user_id=admin.id,
        subject_type="user",
        subject_id=user.id,
        payload={"email": user.email},
    )
    now = utcnow()
    await RefreshTokenRepository(session).revoke_all_for_user(user.id, now)
    await users.mark_deleted(user, now)
    await session.commit()


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
    """A one-time reset link for the superuser to hand over (see `issue_reset_link`)."""
    reset = issue_reset_link(user, settings)
    record_event(
        session,
        "admin.password_reset_issued",
        business_id=_business_of(user),
        actor_user_id=admin.id,
        subject_type="user",
        subject_id=user.id,
        payload={"email": user.email, "expires_at": reset.expires_at.isoformat()},
    )
    await session.commit()
    return PasswordResetRead(reset_url=reset.url, token=reset.token, expires_at=reset.expires_at)


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
