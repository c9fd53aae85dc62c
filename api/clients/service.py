"""Clients: create, change, delete (the CSV import is api/clients/importer.py). Each write
commits once, at its end: the request's one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.client_fields.values import check_values, merged
from api.clients import optouts
from api.clients.schemas import ClientCreate, ClientDetail, ClientRead, ClientUpdate
from api.deps import Actor
from api.errors import Conflict, NotFound, Unprocessable
from core.models import Client
from core.repositories.client_fields import ClientFieldRepository
from core.repositories.clients import ClientRepository, set_tags
from core.types import utcnow

_NOT_NULL = ("name", "tags", "preferred_channels", "opted_out_channels", "is_active", "fields")
CHANNEL_FIELDS = ("preferred_channels", "opted_out_channels")


def _ref_conflict(external_ref: str) -> Conflict:
    return Conflict(f"Another client of this business already has external_ref {external_ref!r}")


def apply_changes(client: Client, changes: dict[str, Any]) -> None:
    """Set what `changes` names; `fields` (values already checked) merges into the
    client's values."""
    for key, value in changes.items():
        if key == "tags":
            set_tags(client, value)
        elif key == "fields":
            client.fields = merged(client.fields, value)
        elif key in CHANNEL_FIELDS:
            setattr(client, key, [str(channel) for channel in value])
        else:
            setattr(client, key, value)


def new_client(business_id: uuid.UUID, data: ClientCreate) -> Client:
    """`data.fields` already checked. The id is set here, not at flush, so an import can
    report it before flushing."""
    client = Client(id=uuid.uuid4(), business_id=business_id, tag_rows=[], fields={})
    apply_changes(client, data.model_dump())
    return client


async def _checked_fields(
    session: AsyncSession, actor: Actor, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Values of the business's own fields as stored; unknown names and bad values are 422."""
    if not values:
        return {}
    types = await ClientFieldRepository(session).types(actor.business_id)
    checked, problems = check_values(types, values)
    if problems:
        raise Unprocessable("; ".join(problems))
    return checked


def _record(
    session: AsyncSession, actor: Actor, action: str, client: Client, **payload: Any
) -> None:
    actor.record(session, action, "client", client.id, **payload)


async def get_client(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> Client:
    client = await ClientRepository(session).get(actor.business_id, client_id)
    if client is None:
        raise NotFound("Client not found")
    return client


async def client_detail(session: AsyncSession, actor: Actor, client: Client) -> ClientDetail:
    reminders, deliveries = await ClientRepository(session).activity_counts(
        actor.business_id, client
    )
    read = ClientRead.model_validate(client).model_dump()
    return ClientDetail(**read, reminder_count=reminders, delivery_count=deliveries)


async def list_clients(
    session: AsyncSession,
    actor: Actor,
    *,
    search: str | None,
    tag: str | None,
    is_active: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Client], int]:
    return await ClientRepository(session).list_page(
        actor.business_id,
        # An empty box in a search form means "no filter", not "match the empty tag".
        search=(search or "").strip() or None,
        tag=(tag or "").strip().lower() or None,
        is_active=is_active,
        limit=limit,
        offset=offset,
    )


async def create_client(session: AsyncSession, actor: Actor, data: ClientCreate) -> Client:
    clients = ClientRepository(session)
    if data.external_ref and await clients.external_ref_taken(actor.business_id, data.external_ref):
        raise _ref_conflict(data.external_ref)
    data.fields = await _checked_fields(session, actor, data.fields)
    client = new_client(actor.business_id, data)
    optouts.record_changes(session, actor, client, before=[])
    pairs = optouts.pairs_of([client])
    optouts.enforce(client, await optouts.suppressed_pairs(session, actor, pairs))
    client = await clients.add(client)
    _record(session, actor, "client.created", client, name=client.name)
    await session.commit()
    return client


async def update_client(
    session: AsyncSession, actor: Actor, client: Client, data: ClientUpdate
) -> Client:
    changes = data.model_dump(exclude_unset=True)
    for required in _NOT_NULL:
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    ref = changes.get("external_ref")
    if ref is not None and ref != client.external_ref:
        taken = await ClientRepository(session).external_ref_taken(
            actor.business_id, ref, exclude_id=client.id
        )
        if taken:
            raise _ref_conflict(ref)
    if "fields" in changes:
        changes["fields"] = await _checked_fields(session, actor, changes["fields"])
    before = list(client.opted_out_channels or [])
    apply_changes(client, changes)
    suppressed = await optouts.suppressed_pairs(session, actor, optouts.pairs_of([client]))
    problem = optouts.lifted_by_staff(client, before, suppressed)
    if problem:
        raise Unprocessable(problem)  # the request fails: nothing applied is committed
    optouts.record_changes(session, actor, client, before)
    optouts.enforce(client, suppressed)
    await optouts.emit_opt_outs(session, client, before)
    if changes:
        # A change to tags alone touches no column of `clients`, so onupdate would not fire.
        client.updated_at = utcnow()
    await session.flush()
    _record(session, actor, "client.updated", client, fields=sorted(changes))
    await session.commit()
    return client


async def delete_client(session: AsyncSession, actor: Actor, client: Client) -> None:
    _record(session, actor, "client.deleted", client, name=client.name)
    await ClientRepository(session).delete(client)
    await session.commit()
