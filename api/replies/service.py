"""Clients' replies: stored when an inbound SMS or WhatsApp is no keyword, listed in the
business's inbox with its unread count, marked read, and shown on the timeline of the
reminder whose message they answer.

A reply is stored once per message and business (Twilio retries a webhook with the same
MessageSid), in the businesses the message may reach by STOP's rules only: the caller
(api/webhooks/service.py) hands over the clients it found there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from core import webhook_events
from core.enums import Channel
from core.events import record_event
from core.models import Client
from core.reply_models import MAX_BODY, MAX_SID, Reply
from core.repositories.base import Total
from core.repositories.replies import ReplyFilters, ReplyRepository
from core.types import utcnow
from workflows.history import Entry

__all__ = ["ReplyFilters", "list_replies", "mark_all_read", "mark_read", "record_replies"]

CHANNEL_NAMES = {Channel.sms.value: "SMS", Channel.whatsapp.value: "WhatsApp"}
# A reminder's timeline shows its latest replies up to this many.
TIMELINE_REPLIES = 500


async def record_replies(
    session: AsyncSession,
    clients: Sequence[Client],
    channel: Channel,
    number: str,
    body: str,
    message_sid: str | None,
) -> list[Reply]:
    """One reply per client (flushed, audited), linked to the latest delivery that reached
    that client on the channel; none for a business that already has this message."""
    rows = ReplyRepository(session)
    sid = message_sid if message_sid and len(message_sid) <= MAX_SID else None
    now = utcnow()
    stored: list[Reply] = []
    for client in clients:
        if sid is not None and await rows.exists(client.business_id, sid):
            continue  # Twilio retried the webhook: stored the first time
        delivery = await rows.latest_delivery(client.business_id, client.id, channel.value)
        reply = Reply(
            id=uuid.uuid4(),
            business_id=client.business_id,
            client_id=client.id,
            channel=channel.value,
            from_number=number,
            body=body.strip()[:MAX_BODY],
            message_sid=sid,
            delivery_id=delivery.id if delivery else None,
            reminder_id=delivery.reminder_id if delivery else None,
            received_at=now,
        )
        session.add(reply)
        stored.append(reply)
        record_event(
            session,
            "reply.received",
            business_id=client.business_id,
            subject_type="reply",
            subject_id=reply.id,
            # Not the text: the audit log keeps who and where, not what clients write.
            payload={
                "client_id": str(client.id),
                "channel": channel.value,
                "reminder_id": str(reply.reminder_id) if reply.reminder_id else None,
            },
        )
        await webhook_events.emit(
            session,
            client.business_id,
            webhook_events.REPLY_RECEIVED,
            {
                "reply_id": reply.id,
                "client_id": client.id,
                "channel": channel.value,
                "reminder_id": reply.reminder_id,
                "delivery_id": reply.delivery_id,
            },
        )
    await session.flush()
    return stored


@dataclass
class ReplyPage:
    items: list[Reply]
    total: Total
    unread_count: int


async def list_replies(
    session: AsyncSession, business_id: uuid.UUID, filters: ReplyFilters, *, limit: int, offset: int
) -> ReplyPage:
    """One page of the business's replies, newest first, and how many are unread in all."""
    rows = ReplyRepository(session)
    items, total = await rows.list_page(business_id, filters, limit=limit, offset=offset)
    return ReplyPage(items, total, await rows.unread_count(business_id))


async def get_reply(session: AsyncSession, business_id: uuid.UUID, reply_id: uuid.UUID) -> Reply:
    reply = await ReplyRepository(session).get_for_business(business_id, reply_id)
    if reply is None:
        raise NotFound("Reply not found")
    return reply


async def mark_read(session: AsyncSession, reply: Reply) -> Reply:
    """Read from now on (committed); a reply already read keeps its first time."""
    if reply.read_at is None:
        reply.read_at = utcnow()
        await session.commit()
    return reply


async def mark_all_read(session: AsyncSession, business_id: uuid.UUID) -> int:
    """Every unread reply of the business read now (committed); how many there were."""
    marked = await ReplyRepository(session).mark_all_read(business_id, utcnow())
    await session.commit()
    return marked


async def unread_count(session: AsyncSession, business_id: uuid.UUID) -> int:
    return await ReplyRepository(session).unread_count(business_id)


# -- a reminder's timeline ---------------------------------------------------------------


def reply_entry(reply: Reply) -> Entry:
    channel = CHANNEL_NAMES.get(reply.channel, reply.channel)
    return Entry(
        at=reply.received_at,
        kind="reply",
        text=f"Reply from {reply.client_name} by {channel}: {reply.body}",
        details={
            "reply_id": str(reply.id),
            "client_id": str(reply.client_id),
            "client_name": reply.client_name,
            "channel": reply.channel,
            "delivery_id": str(reply.delivery_id) if reply.delivery_id else None,
            "read": reply.read_at is not None,
        },
    )


def merge_by_time(timeline: list[Entry], extra: Sequence[Entry]) -> list[Entry]:
    """The timeline with `extra` (oldest first) put in at their times: the timeline's own
    order is kept, and an extra entry comes after the entries of its same moment."""
    merged: list[Entry] = []
    pending = list(extra)
    for entry in timeline:
        while pending and pending[0].at < entry.at:
            merged.append(pending.pop(0))
        merged.append(entry)
    return merged + pending


async def with_replies(
    session: AsyncSession, business_id: uuid.UUID, reminder_id: uuid.UUID, timeline: list[Entry]
) -> list[Entry]:
    """The reminder's timeline with the replies to its messages."""
    replies = await ReplyRepository(session).for_reminder(
        business_id, reminder_id, TIMELINE_REPLIES
    )
    return merge_by_time(timeline, [reply_entry(r) for r in replies])
