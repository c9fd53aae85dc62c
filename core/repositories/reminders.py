from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import Client, ClientTag, Delivery, Reminder
from core.repositories.base import paginate


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, reminder_id: uuid.UUID) -> Reminder | None:
        return await self.session.get(Reminder, reminder_id)

    async def get_for_business(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID
    ) -> Reminder | None:
        stmt = select(Reminder).where(
            Reminder.id == reminder_id, Reminder.business_id == business_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_idempotency_key(self, business_id: uuid.UUID, key: str) -> Reminder | None:
        stmt = select(Reminder).where(
            Reminder.business_id == business_id, Reminder.idempotency_key == key
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_page(
        self,
        business_id: uuid.UUID,
        *,
        status: str | None,
        type: str | None,
        client_id: uuid.UUID | None,
        tag: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Reminder], int]:
        stmt = select(Reminder).where(Reminder.business_id == business_id)
        if status is not None:
            stmt = stmt.where(Reminder.status == status)
        if type is not None:
            stmt = stmt.where(Reminder.type == type)
        if tag is not None:
            stmt = stmt.where(Reminder.tag == tag)
        if client_id is not None:
            # client_ids is a JSON list of id strings on both SQLite and PostgreSQL; a
            # quoted uuid (hex and dashes only) cannot match anything but a whole element.
            stmt = stmt.where(cast(Reminder.client_ids, String).like(f'%"{client_id}"%'))
        stmt = stmt.order_by(Reminder.created_at.desc(), Reminder.id.desc())
        return await paginate(self.session, stmt, limit, offset)

    async def clients_of_business(
        self, business_id: uuid.UUID, client_ids: Iterable[uuid.UUID]
    ) -> list[Client]:
        """Those of `client_ids` that are clients of the business (others are left out)."""
        ids = list(set(client_ids))
        if not ids:
            return []
        stmt = select(Client).where(Client.business_id == business_id, Client.id.in_(ids))
        return list((await self.session.scalars(stmt)).all())

    async def client_names(
        self, business_id: uuid.UUID, client_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        ids = list(set(client_ids))
        if not ids:
            return {}
        stmt = select(Client.id, Client.name).where(
            Client.business_id == business_id, Client.id.in_(ids)
        )
        return {row.id: row.name for row in (await self.session.execute(stmt)).all()}

    async def add(self, reminder: Reminder) -> Reminder:
        self.session.add(reminder)
        await self.session.flush()
        return reminder

    async def target_clients(self, reminder: Reminder) -> list[Client]:
        """The reminder's clients as they are now: its list, or everyone with its tag."""
        stmt = select(Client).where(Client.business_id == reminder.business_id)
        if reminder.tag:
            stmt = stmt.join(ClientTag, ClientTag.client_id == Client.id).where(
                ClientTag.tag == reminder.tag
            )
        else:
            ids = [uuid.UUID(value) for value in reminder.client_ids]
            if not ids:
                return []
            stmt = stmt.where(Client.id.in_(ids))
        stmt = stmt.options(selectinload(Client.tag_rows)).order_by(Client.name, Client.id)
        return list((await self.session.scalars(stmt)).unique().all())


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(
        self, reminder_id: uuid.UUID, occurrence_key: str, client_id: uuid.UUID, channel: str
    ) -> Delivery | None:
        stmt = select(Delivery).where(
            Delivery.reminder_id == reminder_id,
            Delivery.occurrence_key == occurrence_key,
            Delivery.client_id == client_id,
            Delivery.channel == channel,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_for_business(
        self, business_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery | None:
        stmt = select(Delivery).where(
            Delivery.id == delivery_id, Delivery.business_id == business_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_for_reminder(
        self, reminder_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[Delivery], int]:
        stmt = (
            select(Delivery)
            .where(Delivery.reminder_id == reminder_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        )
        return await paginate(self.session, stmt, limit, offset)
