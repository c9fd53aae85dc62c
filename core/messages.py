"""What a template sees when a reminder's message is rendered: client, reminder, business."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.models import Business, Client, Reminder, Template

# How errors name a WhatsApp template variable: this prefix and the variable's name.
VARIABLES_FIELD = "whatsapp_content_variables."


class FieldValues(dict[str, Any]):
    """A client's values of the business's own fields, as `client.fields`: a field the
    client has no value for (or a field deleted since the text was written) is empty text,
    so a message never fails for want of one. Saving a template still refuses a name that
    is no field: its trial render sees a plain dict of the fields defined."""

    def __missing__(self, name: str) -> str:
        return ""


def client_context(
    client: Client, tags: list[str] | None = None, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a template sees as `client`; `fields` stands in for the client's own values
    (a trial render's samples). Staff's notes about the client are not for its messages."""
    return {
        "id": str(client.id),
        "name": client.name,
        "email": client.email,
        "phone": client.phone,
        "secondary_phone": client.secondary_phone,
        "whatsapp": client.whatsapp,
        "timezone": client.timezone,
        "address": client.address,
        "external_ref": client.external_ref,
        "tags": tags if tags is not None else [],
        "fields": fields if fields is not None else FieldValues(client.fields or {}),
    }


def reminder_context(
    reminder: Reminder, due_at: datetime | None, occurrence_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": str(reminder.id),
        "title": reminder.title,
        "description": reminder.description or "",
        "type": reminder.type,
        "timezone": reminder.timezone,
        "due_at": due_at.isoformat() if due_at else None,
        "occurrence_at": occurrence_at.isoformat() if occurrence_at else None,
    }


def business_context(business: Business) -> dict[str, Any]:
    return {"name": business.name, "timezone": business.timezone}


def message_sources(reminder: Reminder, template: Template | None) -> dict[str, str]:
    """The template text of a message's body and, when it has one, its subject: the
    reminder's own, else its template's; a message without a body says the title."""
    subject, body = reminder.subject, reminder.body
    if template is not None:
        subject = subject if subject is not None else template.subject
        body = body if body is not None else template.body
    sources = {"subject": subject} if subject else {}
    sources["body"] = body if body is not None else reminder.title
    return sources
