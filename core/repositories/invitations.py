"""Staff invitations (core.invitation_models): pending ones per business, and taking one
by its token's hash, once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.invitation_models import Invitation


def _pending(now: datetime) -> ColumnElement[bool]:
    return (
        Invitation.accepted_at.is_(None)
        & Invitation.revoked_at.is_(None)
        & (Invitation.expires_at > now)
    )


class InvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def get(self, business_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation | None:
        stmt = select(Invitation).where(
            Invitation.business_id == business_id, Invitation.id == invitation_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        stmt = select(Invitation).where(Invitation.token_hash == token_hash)
        return (await self.session.scalars(stmt)).one_or_none()

    async def pending(self, business_id: uuid.UUID, now: datetime) -> list[Invitation]:
        stmt = (
            select(Invitation)
            .where(Invitation.business_id == business_id, _pending(now))
            .order_by(Invitation.created_at, Invitation.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def count_pending(self, business_id: uuid.UUID, now: datetime) -> int:
        stmt = select(func.count()).where(Invitation.business_id == business_id, _pending(now))
        return int(await self.session.scalar(stmt) or 0)

    async def pending_for(self, business_id: uuid.UUID, email: str, now: datetime) -> bool:
        stmt = select(Invitation.id).where(
            Invitation.business_id == business_id, Invitation.email == email, _pending(now)
        )
        return (await self.session.scalars(stmt.limit(1))).first() is not None

    async def take(self, invitation_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
        """Mark the invitation accepted by `user_id` if it is still pending; True for the
        one caller that did (of parallel acceptances, the database lets one through)."""
        result = await self.session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id, _pending(now))
            .values(accepted_at=now, accepted_user_id=user_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
