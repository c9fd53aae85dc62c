"""The rows Twilio's callbacks read and change: the delivery a status report is about, and
the clients and businesses an inbound message reaches. Rows a callback changes are read
locked (FOR UPDATE), so two callbacks for one message apply in turn."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import Channel
from core.models import Business, Client, Delivery, SenderIdentity


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_delivery_by_sid(
        self, message_sid: str, business_ids: frozenset[uuid.UUID] | None
    ) -> Delivery | None:
        """The oldest delivery that recorded this provider message id (among
        `business_ids`' when given), locked."""
        stmt = (
            select(Delivery)
            .where(Delivery.provider_message_id == message_sid)
            .order_by(Delivery.created_at)
            .limit(1)
            .with_for_update()
        )
        if business_ids is not None:
            stmt = stmt.where(Delivery.business_id.in_(business_ids))
        return (await self.session.scalars(stmt)).first()

    async def lock_delivery(self, delivery_id: uuid.UUID) -> Delivery | None:
        return await self.session.get(Delivery, delivery_id, with_for_update=True)

    async def lock_client(self, client_id: uuid.UUID) -> Client | None:
        return await self.session.get(Client, client_id, with_for_update=True)

    async def verified_sender_businesses(
        self, channel: Channel, to_number: str | None, service_sid: str | None
    ) -> set[uuid.UUID]:
        """Businesses with a verified sender identity for the channel that has this number
        or messaging service; none when neither is given."""
        matches = []
        if to_number:
            matches.append(SenderIdentity.from_number == to_number)
        if service_sid:
            matches.append(SenderIdentity.messaging_service_sid == service_sid)
        if not matches:
            return set()
        stmt = select(SenderIdentity.business_id).where(
            SenderIdentity.channel == channel,
            SenderIdentity.verified_at.is_not(None),
            or_(*matches),
        )
        return set((await self.session.scalars(stmt)).all())

    async def lock_clients_with_number(
        self, channel: Channel, number: str, business_ids: set[uuid.UUID] | None
    ) -> list[Client]:
        """The clients the channel reaches at this number (WhatsApp: their WhatsApp number,
        else their phone), among `business_ids`' when given; locked, by id."""
        if channel == Channel.whatsapp:
            no_whatsapp = or_(Client.whatsapp.is_(None), Client.whatsapp == "")
            match = or_(Client.whatsapp == number, and_(no_whatsapp, Client.phone == number))
        else:
            match = Client.phone == number
        stmt = select(Client).where(match).order_by(Client.id).with_for_update()
        if business_ids is not None:
            stmt = stmt.where(Client.business_id.in_(business_ids))
        return list((await self.session.scalars(stmt)).all())

    async def business_names(self, ids: Iterable[uuid.UUID]) -> list[str]:
        stmt = select(Business.name).where(Business.id.in_(set(ids)))
        return list((await self.session.scalars(stmt)).all())
