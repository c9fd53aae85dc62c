"""Reading the app event log (read-only: the log is append-only, `core.events` writes it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AppEvent, User
from core.repositories.base import escape_like


@dataclass
class EventFilters:
    """`action` is exact, or a prefix when it ends with `.` (`client.` is every client
    event); `since` inclusive, `until` exclusive; `business_id` None: every business."""

    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    actor_user_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    business_id: uuid.UUID | None = None


def _query(filters: EventFilters) -> Select[AppEvent, str]:
    # A deleted actor is still named by the address it had.
    actor_email = func.coalesce(User.deleted_email, User.email)
    stmt = select(AppEvent, actor_email).outerjoin(User, User.id == AppEvent.actor_user_id)
    if filters.business_id is not None:
        stmt = stmt.where(AppEvent.business_id == filters.business_id)
    if filters.action:
        if filters.action.endswith("."):
            stmt = stmt.where(AppEvent.action.like(escape_like(filters.action) + "%", escape="\\"))
        else:
            stmt = stmt.where(AppEvent.action == filters.action)
    if filters.subject_type:
        stmt = stmt.where(AppEvent.subject_type == filters.subject_type)
    if filters.subject_id:
        stmt = stmt.where(AppEvent.subject_id == filters.subject_id)
    if filters.actor_user_id is not None:
        stmt = stmt.where(AppEvent.actor_user_id == filters.actor_user_id)
    if filters.since is not None:
        stmt = stmt.where(AppEvent.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AppEvent.created_at < filters.until)
    # Newest first; the id only makes the order stable for events of the same instant.
    return stmt.order_by(AppEvent.created_at.desc(), AppEvent.id.desc())


async def events_page(
    session: AsyncSession, filters: EventFilters, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of (event, its actor's email) matching `filters`, and how many match."""
    stmt = _query(filters)
    counted = stmt.order_by(None).with_only_columns(AppEvent.id).subquery()
    total = await session.scalar(select(func.count()).select_from(counted))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)
