from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from core.api_key_models import ApiKey
from core.models import Membership, User
from core.repositories.base import Total, paginate


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def list(
        self, business_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[ApiKey], Total]:
        """The business's keys, revoked and expired ones too, newest first."""
        stmt: Any = (
            select(ApiKey)
            .where(ApiKey.business_id == business_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
        return await paginate(self.session, stmt, limit, offset)

    async def get(self, business_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.business_id == business_id, ApiKey.id == key_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, its business and its maker (with their membership), in
        one statement: every request made with a key asks this first."""
        stmt = (
            select(ApiKey)
            .where(ApiKey.key_hash == key_hash)
            .options(
                joinedload(ApiKey.business),
                joinedload(ApiKey.created_by)
                .joinedload(User.membership)
                .joinedload(Membership.business),
            )
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def touch(self, key_id: uuid.UUID, now: datetime, stale_before: datetime) -> bool:
        """Set last_used_at unless another request did since `stale_before`; True when this
        one wrote it (so parallel requests and processes write it once)."""
        stmt = (
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before),
            )
            .values(last_used_at=now)
        )
        result: Any = await self.session.execute(stmt)
        return bool(result.rowcount)

    async def count_live(self, business_id: uuid.UUID, now: datetime) -> int:
        stmt = select(func.count(ApiKey.id)).where(
            ApiKey.business_id == business_id,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
        return int(await self.session.scalar(stmt) or 0)
