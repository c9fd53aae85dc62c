"""What one delivery says and who it comes from: rendered text, sender identity, the
WhatsApp template outside the 24-hour session, the unsubscribe link and status callback."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from channels.providers import OutgoingMessage
from core.done_links import done_url
from core.messages import (
    VARIABLES_FIELD,
    business_context,
    client_context,
    message_sources,
    reminder_context,
)
from core.models import Business, Client, Reminder, SenderIdentity, Template
from core.repositories.reminders import DeliveryRepository
from core.repositories.sender_identities import SenderIdentityRepository
from core.settings import Settings
from core.templating import render_async
from core.unsubscribe import unsubscribe_url
from workflows import schedule as schedules
from workflows.contracts import SendRequest

# WhatsApp lets a business send free-form text only within 24 hours of the client's last
# message; outside it, only an approved template.
WHATSAPP_SESSION = timedelta(hours=24)
STATUS_CALLBACK_PATH = "/api/v1/webhooks/twilio/status"


@dataclass
class Parts:
    reminder: Reminder
    client: Client
    business: Business
    template: Template | None
    sender: SenderIdentity | None


async def load_parts(
    session: AsyncSession, reminder_id: str, client_id: str, channel: str
) -> Parts | str:
    """What one delivery is made of, in two statements (three when the reminder names its
    sender); or why it has nothing to send
    (`reminder_deleted`, `client_deleted`)."""
    rows = await DeliveryRepository(session).send_rows(
        uuid.UUID(reminder_id), uuid.UUID(client_id), channel
    )
    if rows is None:
        return "reminder_deleted"
    reminder, business, client, template, sender = rows
    if client is None:
        return "client_deleted"
    named = await named_sender(session, reminder, channel)
    return Parts(reminder, client, business, template, named or sender)


async def named_sender(
    session: AsyncSession, reminder: Reminder, channel: str
) -> SenderIdentity | None:
    """The identity the reminder names for the channel (`sender_identity_ids`), if it still
    exists; None: the channel's default sends (also when the named one was deleted)."""
    named = (reminder.sender_identity_ids or {}).get(channel)
    if not named:
        return None
    try:
        identity_id = uuid.UUID(str(named))
    except ValueError:
        return None
    identity = await SenderIdentityRepository(session).get(reminder.business_id, identity_id)
    return identity if identity is not None and identity.channel == channel else None


async def compose(
    parts: Parts,
    channel: str,
    delivery_id: str,
    scheduled_for: datetime,
    now: datetime,
    settings: Settings,
    period: str | None = None,
) -> OutgoingMessage:
    """The message for one delivery; raises TemplateProblem when the text cannot render.
    `period`: the occurrence's period, which the client's done link names."""
    reminder, client = parts.reminder, parts.client
    address = client.address_on(channel)
    assert address is not None  # the caller skips clients without one
    approved = bool(
        channel == "whatsapp" and reminder.whatsapp_content_sid and not in_session(client, now)
    )
    link = done_url(settings, reminder.id, client.id, period, now) if period else ""
    text = await _render_text(parts, scheduled_for, approved, link)
    message = OutgoingMessage(
        channel=channel,
        to=address,
        subject=text.get("subject", reminder.title),
        body=text["body"],
        delivery_id=delivery_id,
    )
    sender = usable_sender(parts.sender, settings)
    if channel == "email":
        message.from_email = sender.from_email if sender else None
        message.from_name = (sender.from_name if sender else None) or parts.business.name
        message.reply_to = sender.reply_to if sender else None
        message.unsubscribe_url = unsubscribe_url(settings, client.id, channel)
        # An unusable identity's server is not used either (it would send as that identity).
        config_id = reminder.email_configuration_id or (
            sender.email_configuration_id if sender else None
        )
        message.email_configuration_id = str(config_id) if config_id else None
        return message
    if sender is not None:
        message.from_number = sender.from_number
        message.messaging_service_sid = sender.messaging_service_sid
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    message.status_callback = f"{base}{STATUS_CALLBACK_PATH}?delivery_id={delivery_id}"
    if approved:
        message.content_sid = reminder.whatsapp_content_sid
        message.content_variables = {
            name.removeprefix(VARIABLES_FIELD): value
            for name, value in text.items()
            if name.startswith(VARIABLES_FIELD)
        }
    return message


async def _render_text(
    parts: Parts, scheduled_for: datetime, approved_template: bool, link: str
) -> dict[str, str]:
    """Subject, body and, for an approved WhatsApp template, each variable (named with
    VARIABLES_FIELD), rendered on the render threads from plain values read here: the ORM
    rows never leave the event loop."""
    reminder = parts.reminder
    context: dict[str, Any] = {
        "client": client_context(parts.client, parts.client.tags),
        "reminder": reminder_context(reminder, schedules.due_at(reminder.schedule), scheduled_for),
        "business": business_context(parts.business),
        "done_url": link,
    }
    sources = message_sources(reminder, parts.template)
    if approved_template:
        variables = reminder.whatsapp_content_variables or {}
        sources |= {VARIABLES_FIELD + name: source for name, source in variables.items()}
    return await render_async(sources, context)


async def period_of_send(session: AsyncSession, parts: Parts, request: SendRequest) -> str | None:
    """The period a send belongs to (its done link names it): the workflow's, or for a
    resend the original delivery's."""
    if request.period is not None or not request.resend_of:
        return request.period
    original = await DeliveryRepository(session).get_for_business(
        parts.reminder.business_id, uuid.UUID(request.resend_of)
    )
    return original.period if original is not None else None


def usable_sender(sender: SenderIdentity | None, settings: Settings) -> SenderIdentity | None:
    """The business's sender identity, unless it must be verified (production) and is not:
    then None, so the platform's own sender (DEFAULT_FROM_EMAIL / TWILIO_*) sends instead.
    Falling back keeps reminders flowing; failing them would punish the clients."""
    if sender is not None and settings.require_verified_senders and sender.verified_at is None:
        return None
    return sender


def in_session(client: Client, now: datetime) -> bool:
    last = client.whatsapp_session_at
    return last is not None and now - last < WHATSAPP_SESSION
