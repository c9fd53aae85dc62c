from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, String, cast, delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import Client, ClientTag, Delivery, Reminder, Suppression
from core.repositories.base import escape_like, paginate

# Stay well under SQLite's bound-parameter limit when looking up a whole import file.
_IN_CHUNK = 500
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def set_tags(client: Client, tags: list[str]) -> None:
    """Make the client's tags exactly `tags`, keeping the rows that stay.

    Replacing the whole collection would delete and re-insert rows with the same primary
    key in one flush, which the unit of work orders as insert-before-delete and so fails.
    """
    wanted = set(tags)
    kept = [row for row in client.tag_rows if row.tag in wanted]
    have = {row.tag for row in kept}
    added = [ClientTag(tag=tag, business_id=client.business_id) for tag in wanted - have]
    client.tag_rows = sorted(kept + added, key=lambda row: row.tag)


class ClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _in_business(business_id: uuid.UUID) -> Select[Client]:
        return (
            select(Client)
            .where(Client.business_id == business_id)
            .options(selectinload(Client.tag_rows))
        )

    async def get(self, business_id: uuid.UUID, client_id: uuid.UUID) -> Client | None:
        stmt = self._in_business(business_id).where(Client.id == client_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_unscoped(
        self, client_id: uuid.UUID, *, for_update: bool = False
    ) -> Client | None:
        """The client by id alone, in whichever business: only for a caller whose proof
        names the client itself (a signed unsubscribe link). `for_update` locks its row."""
        return await self.session.get(Client, client_id, with_for_update=for_update)

    async def list_page(
        self,
        business_id: uuid.UUID,
        *,
        search: str | None,
        tag: str | None,
        limit: int,
        offset: int,
        is_active: bool | None = None,
    ) -> tuple[list[Client], int]:
        stmt = self._in_business(business_id)
        if is_active is not None:
            stmt = stmt.where(Client.is_active.is_(is_active))
        if search:
            stmt = stmt.where(client_matches(search))
        if tag is not None:
            tagged = select(ClientTag.client_id).where(
                ClientTag.business_id == business_id, ClientTag.tag == tag
            )
            stmt = stmt.where(Client.id.in_(tagged))
        # Case-insensitive by name, then id, so pages never overlap or skip a client.
        stmt = stmt.order_by(func.lower(Client.name), Client.name, Client.id)
        return await paginate(self.session, stmt, limit, offset)

    async def external_ref_taken(
        self, business_id: uuid.UUID, external_ref: str, *, exclude_id: uuid.UUID | None = None
    ) -> bool:
        stmt = select(Client.id).where(
            Client.business_id == business_id, Client.external_ref == external_ref
        )
        if exclude_id is not None:
            stmt = stmt.where(Client.id != exclude_id)
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def find_by_external_refs(
        self, business_id: uuid.UUID, refs: Iterable[str]
    ) -> list[Client]:
        found: list[Client] = []
        for chunk in _chunks(refs):
            stmt = self._in_business(business_id).where(Client.external_ref.in_(chunk))
            found.extend((await self.session.scalars(stmt)).all())
        return found

    async def find_by_emails(self, business_id: uuid.UUID, emails: Iterable[str]) -> list[Client]:
        found: list[Client] = []
        for chunk in _chunks(emails):
            stmt = (
                self._in_business(business_id)
                .where(Client.email.in_(chunk))
                .order_by(Client.created_at, Client.id)
            )
            found.extend((await self.session.scalars(stmt)).all())
        return found

    async def activity_counts(self, business_id: uuid.UUID, client: Client) -> tuple[int, int]:
        """How many reminders name the client or one of its tags, and how many messages
        it was sent (its deliveries, by their client index)."""
        # client_ids is a JSON list of id strings on SQLite and PostgreSQL alike.
        named = cast(Reminder.client_ids, String).like(f'%"{client.id}"%')
        targets = or_(named, Reminder.tag.in_(client.tags)) if client.tags else named
        reminders = select(func.count(Reminder.id)).where(
            Reminder.business_id == business_id, targets
        )
        deliveries = select(func.count(Delivery.id)).where(
            Delivery.client_id == client.id, Delivery.business_id == business_id
        )
        return (
            int(await self.session.scalar(reminders) or 0),
            int(await self.session.scalar(deliveries) or 0),
        )

    async def add(self, client: Client) -> Client:
        self.session.add(client)
        await self.session.flush()
        return client

    async def delete(self, client: Client) -> None:
        await self.session.delete(client)
        await self.session.flush()


def client_matches(search: str) -> ColumnElement[bool]:
    pattern = f"%{escape_like(search)}%"
    columns = (
        Client.name,
        Client.email,
        Client.phone,
        Client.secondary_phone,
        Client.whatsapp,
        Client.external_ref,
    )
    conditions = [column.ilike(pattern, escape="\\") for column in columns]
    # Phones are stored as E.164, so "+44 7911-123" should still find "+447911123456".
    compact = _PHONE_PUNCTUATION.sub("", search)
    if compact and compact != search:
        compact_pattern = f"%{escape_like(compact)}%"
        conditions += [
            Client.phone.like(compact_pattern, escape="\\"),
            Client.whatsapp.like(compact_pattern, escape="\\"),
            Client.secondary_phone.like(compact_pattern, escape="\\"),
        ]
    return or_(*conditions)


class SuppressionRepository:
    """Addresses whose owners opted out of a business's channel themselves."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, business_id: uuid.UUID, channel: str, address: str, source: str) -> None:
        """Suppress the address (again is harmless: the first source is kept)."""
        insert = (
            pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        stmt = insert(Suppression).values(
            id=uuid.uuid4(),
            business_id=business_id,
            channel=channel,
            address=address,
            source=source,
        )
        await self.session.execute(stmt.on_conflict_do_nothing())

    async def remove(self, business_id: uuid.UUID, channel: str, address: str) -> None:
        await self.session.execute(
            delete(Suppression).where(
                Suppression.business_id == business_id,
                Suppression.channel == channel,
                Suppression.address == address,
            )
        )

    async def find(
        self, business_id: uuid.UUID, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Suppression]:
        """The suppressions among (channel, address) pairs, by pair."""
        wanted = sorted(set(pairs))
        found: dict[tuple[str, str], Suppression] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            stmt = select(Suppression).where(
                Suppression.business_id == business_id,
                tuple_(Suppression.channel, Suppression.address).in_(chunk),
            )
            for row in await self.session.scalars(stmt):
                found[(row.channel, row.address)] = row
        return found
