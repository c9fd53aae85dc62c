from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import SenderIdentity
from core.repositories.base import paginate


class SenderIdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID, identity_id: uuid.UUID) -> SenderIdentity | None:
        stmt = select(SenderIdentity).where(
            SenderIdentity.business_id == business_id, SenderIdentity.id == identity_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list(
        self, business_id: uuid.UUID, channel: str | None, limit: int, offset: int
    ) -> tuple[list[SenderIdentity], int]:
        stmt: Any = select(SenderIdentity).where(SenderIdentity.business_id == business_id)
        if channel is not None:
            stmt = stmt.where(SenderIdentity.channel == channel)
        stmt = stmt.order_by(SenderIdentity.channel, SenderIdentity.created_at, SenderIdentity.id)
        return await paginate(self.session, stmt, limit, offset)

    async def get_default(self, business_id: uuid.UUID, channel: str) -> SenderIdentity | None:
        stmt = select(SenderIdentity).where(
            SenderIdentity.business_id == business_id,
            SenderIdentity.channel == channel,
            SenderIdentity.is_default.is_(True),
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def oldest(self, business_id: uuid.UUID, channel: str) -> SenderIdentity | None:
        stmt = (
            select(SenderIdentity)
            .where(SenderIdentity.business_id == business_id, SenderIdentity.channel == channel)
            .order_by(SenderIdentity.created_at, SenderIdentity.id)
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    async def add(self, identity: SenderIdentity) -> SenderIdentity:
        self.session.add(identity)
        await self.session.flush()
        return identity

    async def make_default(self, identity: SenderIdentity) -> None:
        """Move the channel's default to `identity`.

        The old default is cleared and flushed first: the partial unique index allows one
        default per (business, channel) at every moment, not only at commit.
        """
        current = await self.get_default(identity.business_id, identity.channel)
        if current is not None and current.id != identity.id:
            current.is_default = False
            await self.session.flush()
        identity.is_default = True
        await self.session.flush()

    async def delete(self, identity: SenderIdentity) -> None:
        await self.session.delete(identity)
        await self.session.flush()
