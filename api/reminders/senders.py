"""The sender identity a reminder names per channel (`sender_identity_ids`): each must be
the business's own, of that channel, on a channel the reminder sends on, and verified when
sending requires verified senders (production). At send time a named identity that was
deleted since sends as the channel's default (activities/compose.py); deleting one takes
it out of the reminders that name it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.errors import Unprocessable
from core.enums import Channel
from core.models import Reminder
from core.repositories.sender_identities import SenderIdentityRepository
from core.settings import Settings


async def check_sender_identities(
    session: AsyncSession,
    actor: Actor,
    ids: dict[Channel, uuid.UUID],
    channels: Sequence[str],
    settings: Settings,
) -> dict[str, str] | None:
    """The ids as stored (None when none is named); 422 naming the first one that cannot
    be used. `channels`: the reminder's (empty: the business's defaults, any channel)."""
    repo = SenderIdentityRepository(session)
    for channel, identity_id in ids.items():
        field = f"sender_identity_ids.{channel.value}"
        if channels and channel.value not in channels:
            raise Unprocessable(f"{field}: {channel.value} is not one of the reminder's channels")
        identity = await repo.get(actor.business_id, identity_id)
        if identity is None:
            raise Unprocessable(f"{field}: no sender identity {identity_id} in this business")
        if identity.channel != channel.value:
            raise Unprocessable(f"{field}: {identity_id} is a {identity.channel} identity")
        if settings.require_verified_senders and identity.verified_at is None:
            raise Unprocessable(f"{field}: {identity_id} is not verified yet")
    return {channel.value: str(identity_id) for channel, identity_id in ids.items()} or None


async def apply_sender_identities(
    session: AsyncSession,
    actor: Actor,
    reminder: Reminder,
    changes: dict[str, Any],
    settings: Settings,
) -> None:
    """A PATCH's `sender_identity_ids` (the whole map), checked against the channels the
    reminder has after the change; new channels are checked against the map it keeps."""
    if "sender_identity_ids" in changes:
        wanted = changes["sender_identity_ids"] or {}
        reminder.sender_identity_ids = await check_sender_identities(
            session, actor, wanted, reminder.channels, settings
        )
        return
    named = reminder.sender_identity_ids or {}
    missing = [
        channel for channel in named if reminder.channels and channel not in reminder.channels
    ]
    if missing:
        raise Unprocessable(
            f"sender_identity_ids.{missing[0]}: {missing[0]} is not one of the reminder's "
            "channels; change sender_identity_ids with channels"
        )
