"""The deliveries whose fallback was asked for and not yet taken by their reminder's
workflow (core/fallbacks.py): the worker's sweep reads them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Delivery


class FallbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def waiting(self, requested_before: datetime, limit: int) -> list[uuid.UUID]:
        """Deliveries whose fallback was requested before then and is still not taken,
        oldest first."""
        stmt = (
            select(Delivery.id)
            .where(Delivery.fallback_requested_at < requested_before)
            .order_by(Delivery.fallback_requested_at)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())
