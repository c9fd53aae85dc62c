from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from core.models import Business, Membership, RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, fresh: bool = False) -> User | None:
        """The user with their membership and business, in one statement: every
        authenticated request asks this first (three statements before). `fresh`: read
        again even if this session holds the user (its membership just changed)."""
        stmt = (
            select(User)
            .where(User.id == user_id)
            .options(joinedload(User.membership).joinedload(Membership.business))
            .execution_options(populate_existing=fresh)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_email(self, email: str) -> User | None:
        stmt = (
            select(User)
            .where(User.email == email.lower())
            .options(joinedload(User.membership).joinedload(Membership.business))
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def add_membership(self, membership: Membership) -> Membership:
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def list_members(self, business_id: uuid.UUID) -> list[Membership]:
        stmt = (
            select(Membership)
            .where(Membership.business_id == business_id)
            .options(selectinload(Membership.user))
            .order_by(Membership.created_at)
        )
        return list((await self.session.scalars(stmt)).all())

    async def get_membership(
        self, business_id: uuid.UUID, membership_id: uuid.UUID
    ) -> Membership | None:
        stmt = (
            select(Membership)
            .where(Membership.business_id == business_id, Membership.id == membership_id)
            .options(selectinload(Membership.user))
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def member_user(self, business_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        """The active user with that id who is staff of the business, else None."""
        stmt = (
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.business_id == business_id, User.id == user_id, User.is_active)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def names(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each user's full name (else email), for pages that say who did something."""
        wanted = set(user_ids)
        if not wanted:
            return {}
        stmt = select(User.id, User.full_name, User.email).where(User.id.in_(wanted))
        rows = (await self.session.execute(stmt)).all()
        return {user_id: name or email for user_id, name, email in rows}

    async def count_owners(self, business_id: uuid.UUID) -> int:
        members = await self.list_members(business_id)
        return sum(1 for m in members if m.role == "owner")

    async def mark_deleted(self, user: User, now: datetime) -> None:
        """Delete an account but keep its row: what it did stays attributed to it (events,
        reminders, keys keep their user id). It leaves its business; its address moves to
        `deleted_email`, freeing `email` (unique) for a new account; it can never sign in
        again (inactive), so its tokens and keys stop working."""
        if user.membership is not None:
            await self.session.delete(user.membership)
        user.deleted_email = user.email
        user.email = f"deleted-{user.id.hex}@deleted.invalid"
        user.deleted_at = now
        user.is_active = False
        user.is_superuser = False
        await self.session.flush()


class BusinessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID) -> Business | None:
        return await self.session.get(Business, business_id)

    async def add(self, business: Business) -> Business:
        self.session.add(business)
        await self.session.flush()
        return business


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.scalars(stmt)).one_or_none()

    async def use(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark the token used if it is still unused and unrevoked; True for the one caller
        that did. One conditional UPDATE: of parallel uses, the database lets one through
        (the others wait for its row lock, then find it used)."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all_for_user(self, user_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
