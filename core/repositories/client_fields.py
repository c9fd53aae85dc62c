"""A business's client field definitions, and taking a deleted field's values off its clients."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, ColumnElement, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from core.client_field_models import ClientField
from core.models import Client


class ClientFieldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, business_id: uuid.UUID) -> list[ClientField]:
        """The business's fields in the order they were defined."""
        stmt = (
            select(ClientField)
            .where(ClientField.business_id == business_id)
            .order_by(ClientField.created_at, ClientField.name)
        )
        return list(await self.session.scalars(stmt))

    async def types(self, business_id: uuid.UUID) -> dict[str, str]:
        """Each of the business's fields' type, by name."""
        stmt = select(ClientField.name, ClientField.type).where(
            ClientField.business_id == business_id
        )
        return {name: kind for name, kind in await self.session.execute(stmt)}

    async def get(self, business_id: uuid.UUID, field_id: uuid.UUID) -> ClientField | None:
        stmt = select(ClientField).where(
            ClientField.business_id == business_id, ClientField.id == field_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def count(self, business_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(ClientField.business_id == business_id)
        return int(await self.session.scalar(stmt) or 0)

    async def name_taken(self, business_id: uuid.UUID, name: str) -> bool:
        stmt = select(ClientField.id).where(
            ClientField.business_id == business_id, ClientField.name == name
        )
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def add(self, field: ClientField) -> ClientField:
        self.session.add(field)
        await self.session.flush()
        return field

    async def delete(self, field: ClientField) -> None:
        """The field, and its values on the business's clients: a field made again later
        with the same name (perhaps another type) starts empty."""
        await self.session.execute(
            update(Client)
            .where(Client.business_id == field.business_id, self._holds(field.name))
            .values(fields=self._without(field.name))
            .execution_options(synchronize_session=False)
        )
        await self.session.delete(field)
        await self.session.flush()

    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _holds(self, name: str) -> ColumnElement[bool]:
        if self._postgres():
            return cast(Client.fields, JSONB).has_key(name)
        # Names are lower_snake identifiers, so the JSON path needs no quoting.
        return func.json_type(Client.fields, f"$.{name}").is_not(None)

    def _without(self, name: str) -> ColumnElement[object]:
        if self._postgres():
            return cast(cast(Client.fields, JSONB).op("-")(name), JSON)
        return func.json_remove(Client.fields, f"$.{name}")
