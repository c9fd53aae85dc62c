"""The row an email bounce changes: the delivery whose message bounced, read locked (FOR
UPDATE) so two copies of one bounce apply in turn."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import Channel
from core.models import Delivery


class BounceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_email_delivery(self, message_id: str) -> Delivery | None:
        """The email delivery that sent this Message-ID (without brackets), locked."""
        stmt = (
            select(Delivery)
            .where(
                Delivery.provider_message_id == message_id,
                Delivery.channel == Channel.email.value,
            )
            .order_by(Delivery.created_at)
            .limit(1)
            .with_for_update()
        )
        return (await self.session.scalars(stmt)).first()
