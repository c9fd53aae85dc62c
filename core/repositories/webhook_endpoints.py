"""SQL for outgoing webhooks: endpoints, and the deliveries their workflows send."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.repositories.base import Total, paginate
from core.types import utcnow
from core.webhook_models import PENDING, WebhookDelivery, WebhookEndpoint


class WebhookEndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def get(self, business_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        stmt = select(WebhookEndpoint).where(
            WebhookEndpoint.business_id == business_id, WebhookEndpoint.id == endpoint_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self, business_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[WebhookEndpoint], Total]:
        stmt: Any = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.business_id == business_id)
            .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
        )
        return await paginate(self.session, stmt, limit, offset)

    async def count(self, business_id: uuid.UUID) -> int:
        stmt = select(func.count(WebhookEndpoint.id)).where(
            WebhookEndpoint.business_id == business_id
        )
        return int(await self.session.scalar(stmt) or 0)

    async def subscribed(self, business_id: uuid.UUID, event_type: str) -> list[WebhookEndpoint]:
        """The business's enabled endpoints that asked for `event_type` (filtered here, not
        in SQL: JSON lists are read alike on SQLite and PostgreSQL; a business has few)."""
        stmt = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.business_id == business_id, WebhookEndpoint.is_enabled)
            .order_by(WebhookEndpoint.id)
        )
        rows = (await self.session.scalars(stmt)).all()
        return [row for row in rows if event_type in (row.events or [])]

    async def count_failure(self, endpoint_id: uuid.UUID) -> int:
        """One more delivery failed for good, in one statement (two deliveries giving up
        at once both count); the endpoint's run of failures after it."""
        stmt = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
            .returning(WebhookEndpoint.consecutive_failures)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(stmt)).scalar_one_or_none() or 0)

    async def disable(self, endpoint_id: uuid.UUID, reason: str) -> bool:
        """Disable an enabled endpoint; True when this call did it (once, however many
        deliveries cross the limit together)."""
        stmt = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.is_enabled)
            .values(is_enabled=False, disabled_reason=reason, updated_at=utcnow())
            .returning(WebhookEndpoint.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()


class WebhookDeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, endpoint_id: uuid.UUID, limit: int, offset: int, status: str | None = None
    ) -> tuple[list[WebhookDelivery], Total]:
        stmt: Any = (
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        )
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        return await paginate(self.session, stmt, limit, offset)

    async def lock(self, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
        """The delivery and its endpoint, locked (FOR UPDATE); None when either is gone."""
        delivery = await self.session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return None
        endpoint = await self.session.get(
            WebhookEndpoint, delivery.endpoint_id, with_for_update=True
        )
        return None if endpoint is None else (delivery, endpoint)

    async def stranded(self, created_before: datetime, limit: int) -> list[uuid.UUID]:
        """Pending deliveries made before `created_before`, oldest first: their workflow
        may never have started (the process stopped between commit and start)."""
        stmt = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.attempts == 0,
                WebhookDelivery.created_at < created_before,
            )
            .order_by(WebhookDelivery.created_at)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())
