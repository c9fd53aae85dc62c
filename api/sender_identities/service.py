from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.email_configurations.service import check_configuration_id
from api.errors import Conflict, NotFound, Unprocessable
from api.sender_identities.schemas import SenderIdentityCreate, SenderIdentityUpdate
from core.enums import Channel
from core.models import SenderIdentity
from core.repositories.sender_identities import SenderIdentityRepository
from core.settings import Settings

ADDRESS_FIELDS = ("from_email", "reply_to", "from_number", "messaging_service_sid", "from_name")
_EMAIL_FIELDS = ("from_email", "reply_to")
_PHONE_FIELDS = ("from_number", "messaging_service_sid")
# Changing what an identity sends from voids any proof that the caller owns it.
_PROVEN_FIELDS = ("from_email", "from_number")


def identity_problem(channel: str, values: Mapping[str, Any]) -> str | None:
    """What is missing or out of place for this channel, or None when the identity is whole."""
    own, foreign = (
        (_EMAIL_FIELDS, _PHONE_FIELDS)
        if channel == Channel.email
        else (_PHONE_FIELDS, _EMAIL_FIELDS)
    )
    stray = [name for name in foreign if values.get(name)]
    if stray:
        return f"{channel} identities take no {' or '.join(stray)}"
    if channel == Channel.email and not values.get("from_email"):
        return "email identities need from_email"
    if channel == Channel.sms and not any(values.get(name) for name in own):
        return "sms identities need from_number or messaging_service_sid"
    if channel == Channel.whatsapp and not values.get("from_number"):
        return "whatsapp identities need from_number"
    return None


def _check(channel: str, values: Mapping[str, Any], settings: Settings) -> None:
    problem = identity_problem(channel, values)
    if problem:
        raise Unprocessable(problem)
    for name in _PHONE_FIELDS:
        if values.get(name) and values[name] in settings.platform_senders:
            # A business claiming the shared number would take its STOPs for itself.
            raise Unprocessable(
                f"{name}: {values[name]} is the platform's shared sender, which every "
                "business sends from; leave the field out to send from it"
            )


async def _check_configuration(
    session: AsyncSession, actor: Actor, channel: str, config_id: uuid.UUID | None
) -> None:
    if config_id is None:
        return
    if channel != Channel.email:
        raise Unprocessable(
            f"email_configuration_id: only email identities send through an email "
            f"configuration, not {channel} ones"
        )
    await check_configuration_id(session, actor, config_id)


async def get_identity(
    session: AsyncSession, actor: Actor, identity_id: uuid.UUID
) -> SenderIdentity:
    identity = await SenderIdentityRepository(session).get(actor.business_id, identity_id)
    if identity is None:
        raise NotFound("Sender identity not found")
    return identity


async def list_identities(
    session: AsyncSession, actor: Actor, channel: Channel | None, limit: int, offset: int
) -> tuple[list[SenderIdentity], int]:
    return await SenderIdentityRepository(session).list(
        actor.business_id, channel.value if channel else None, limit, offset
    )


def _record(
    session: AsyncSession, actor: Actor, action: str, identity: SenderIdentity, **extra: Any
) -> None:
    actor.record(
        session,
        action,
        "sender_identity",
        identity.id,
        channel=identity.channel,
        is_default=identity.is_default,
        **extra,
    )


async def create_identity(
    session: AsyncSession, actor: Actor, data: SenderIdentityCreate, settings: Settings
) -> SenderIdentity:
    channel = data.channel.value
    values = data.model_dump(include=set(ADDRESS_FIELDS))
    _check(channel, values, settings)
    await _check_configuration(session, actor, channel, data.email_configuration_id)
    repo = SenderIdentityRepository(session)
    identity = await repo.add(
        SenderIdentity(
            business_id=actor.business_id,
            channel=channel,
            is_default=False,
            email_configuration_id=data.email_configuration_id,
            **values,
        )
    )
    # A channel with identities always has a default, so the first one takes the role.
    if data.is_default or await repo.get_default(actor.business_id, channel) is None:
        await repo.make_default(identity)
    _record(session, actor, "sender_identity.created", identity)
    await session.commit()
    return identity


async def update_identity(
    session: AsyncSession,
    actor: Actor,
    identity: SenderIdentity,
    data: SenderIdentityUpdate,
    settings: Settings,
) -> SenderIdentity:
    changes = data.model_dump(exclude_unset=True)
    wanted_default = changes.pop("is_default", None)
    if "is_default" in data.model_fields_set and wanted_default is None:
        raise Unprocessable("is_default cannot be null")
    if wanted_default is False and identity.is_default:
        raise Conflict(
            f"This is the default {identity.channel} identity; choose another default instead"
        )
    current = {name: getattr(identity, name) for name in ADDRESS_FIELDS}
    _check(identity.channel, {**current, **changes}, settings)
    await _check_configuration(
        session, actor, identity.channel, changes.get("email_configuration_id")
    )
    if any(changes.get(name, current[name]) != current[name] for name in _PROVEN_FIELDS):
        # ...and a code sent to the old address must not prove the new one.
        identity.verified_at = None
        identity.verification_code_hash = None
        identity.verification_expires_at = None
        identity.verification_attempts = 0
    for name, value in changes.items():
        setattr(identity, name, value)
    if wanted_default:
        await SenderIdentityRepository(session).make_default(identity)
    _record(
        session, actor, "sender_identity.updated", identity, fields=sorted(data.model_fields_set)
    )
    await session.commit()
    return identity


async def delete_identity(session: AsyncSession, actor: Actor, identity: SenderIdentity) -> None:
    repo = SenderIdentityRepository(session)
    _record(session, actor, "sender_identity.deleted", identity)
    was_default = identity.is_default
    await repo.forget_in_reminders(identity)
    await repo.delete(identity)
    # Sending must keep working: the longest-standing identity of the channel takes over.
    successor = await repo.oldest(actor.business_id, identity.channel) if was_default else None
    if successor is not None:
        await repo.make_default(successor)
        _record(session, actor, "sender_identity.updated", successor, fields=["is_default"])
    await session.commit()
