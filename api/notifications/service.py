"""Delivery history across all of a business's reminders.

Filters never answer 404: an id of another business (or of nothing) simply matches no
delivery, since every query is scoped to the caller's business first.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.notifications.schemas import NotificationFilters
from core.models import Delivery
from core.repositories.base import paginate


def _filtered(business_id: uuid.UUID, filters: NotificationFilters) -> Select[Any]:
    stmt = select(Delivery).where(Delivery.business_id == business_id)
    if filters.status is not None:
        stmt = stmt.where(Delivery.status == filters.status.value)
    if filters.channel is not None:
        stmt = stmt.where(Delivery.channel == filters.channel.value)
    if filters.client_id is not None:
        stmt = stmt.where(Delivery.client_id == filters.client_id)
    if filters.reminder_id is not None:
        stmt = stmt.where(Delivery.reminder_id == filters.reminder_id)
    return filters.window.apply(stmt, Delivery.created_at)


async def list_notifications(
    session: AsyncSession,
    business_id: uuid.UUID,
    filters: NotificationFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """One page of the business's deliveries, newest first, and how many match."""
    stmt = _filtered(business_id, filters).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    return await paginate(session, stmt, limit, offset)
