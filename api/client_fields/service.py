"""A business's own client fields: owners define and delete them, all staff read them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.client_fields.schemas import ClientFieldCreate
from api.deps import Actor
from api.errors import Conflict, NotFound
from core.client_field_models import MAX_FIELDS_PER_BUSINESS, ClientField
from core.repositories.client_fields import ClientFieldRepository


async def list_fields(session: AsyncSession, actor: Actor) -> list[ClientField]:
    return await ClientFieldRepository(session).list(actor.business_id)


async def create_field(session: AsyncSession, actor: Actor, data: ClientFieldCreate) -> ClientField:
    fields = ClientFieldRepository(session)
    if await fields.name_taken(actor.business_id, data.name):
        raise Conflict(f"This business already has a field named {data.name!r}")
    if await fields.count(actor.business_id) >= MAX_FIELDS_PER_BUSINESS:
        raise Conflict(
            f"A business has at most {MAX_FIELDS_PER_BUSINESS} client fields; "
            "delete one it no longer uses first"
        )
    field = await fields.add(
        ClientField(
            business_id=actor.business_id, name=data.name, label=data.label, type=data.type.value
        )
    )
    actor.record(session, "client_field.created", "client_field", field.id, name=field.name)
    await session.commit()
    return field


async def delete_field(session: AsyncSession, actor: Actor, field_id: uuid.UUID) -> None:
    """The field and every client's value of it."""
    fields = ClientFieldRepository(session)
    field = await fields.get(actor.business_id, field_id)
    if field is None:
        raise NotFound("Client field not found")
    actor.record(session, "client_field.deleted", "client_field", field.id, name=field.name)
    await fields.delete(field)
    await session.commit()
