"""Clients' replies: storing one (once per message), the latest delivery it answers, and
the business's inbox with its unread count."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from core.models import Delivery
from core.reply_models import Reply
from core.repositories.base import Total, paginate
from core.repositories.progress import SENT_STATES


@dataclass(frozen=True)
class ReplyFilters:
    unread: bool = False
    client_id: uuid.UUID | None = None
    reminder_id: uuid.UUID | None = None


class ReplyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def exists(self, business_id: uuid.UUID, message_sid: str) -> bool:
        stmt = select(Reply.id).where(
            Reply.business_id == business_id, Reply.message_sid == message_sid
        )
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def latest_delivery(
        self, business_id: uuid.UUID, client_id: uuid.UUID, channel: str
    ) -> Delivery | None:
        """The latest message that reached the client on the channel: what a reply answers."""
        stmt = (
            select(Delivery)
            .where(
                Delivery.business_id == business_id,
                Delivery.client_id == client_id,
                Delivery.channel == channel,
                Delivery.status.in_(SENT_STATES),
            )
            .order_by(
                func.coalesce(Delivery.sent_at, Delivery.created_at).desc(), Delivery.id.desc()
            )
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    def _scoped(self, business_id: uuid.UUID, filters: ReplyFilters) -> Select[Any]:
        stmt = select(Reply).where(Reply.business_id == business_id)
        if filters.unread:
            stmt = stmt.where(Reply.read_at.is_(None))
        if filters.client_id is not None:
            stmt = stmt.where(Reply.client_id == filters.client_id)
        if filters.reminder_id is not None:
            stmt = stmt.where(Reply.reminder_id == filters.reminder_id)
        return stmt

    async def list_page(
        self, business_id: uuid.UUID, filters: ReplyFilters, *, limit: int, offset: int
    ) -> tuple[list[Reply], Total]:
        """Newest first, each with its client loaded."""
        stmt = (
            self._scoped(business_id, filters)
            .options(joinedload(Reply.client))
            .order_by(Reply.received_at.desc(), Reply.id.desc())
        )
        return await paginate(self.session, stmt, limit, offset)

    async def unread_count(self, business_id: uuid.UUID) -> int:
        stmt = select(func.count(Reply.id)).where(
            Reply.business_id == business_id, Reply.read_at.is_(None)
        )
        return int(await self.session.scalar(stmt) or 0)

    async def get_for_business(self, business_id: uuid.UUID, reply_id: uuid.UUID) -> Reply | None:
        stmt = (
            select(Reply)
            .where(Reply.business_id == business_id, Reply.id == reply_id)
            .options(joinedload(Reply.client))
        )
        return (await self.session.scalars(stmt)).first()

    async def mark_all_read(self, business_id: uuid.UUID, at: datetime) -> int:
        stmt = (
            update(Reply)
            .where(Reply.business_id == business_id, Reply.read_at.is_(None))
            .values(read_at=at)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def for_reminder(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID, limit: int
    ) -> list[Reply]:
        """The reminder's replies, oldest first (the latest `limit`), with their clients."""
        stmt = (
            select(Reply)
            .where(Reply.business_id == business_id, Reply.reminder_id == reminder_id)
            .options(joinedload(Reply.client))
            .order_by(Reply.received_at.desc(), Reply.id.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.scalars(stmt)).all()))
