"""What a template sees when a reminder's message is rendered: client, reminder, business."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.models import Business, Client, Reminder, Template
from core.templating import render


def client_context(client: Client, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": str(client.id),
        "name": client.name,
        "email": client.email,
        "phone": client.phone,
        "whatsapp": client.whatsapp,
        "timezone": client.timezone,
        "external_ref": client.external_ref,
        "tags": tags if tags is not None else [],
    }


def reminder_context(
    reminder: Reminder, due_at: datetime | None, occurrence_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": str(reminder.id),
        "title": reminder.title,
        "type": reminder.type,
        "timezone": reminder.timezone,
        "due_at": due_at.isoformat() if due_at else None,
        "occurrence_at": occurrence_at.isoformat() if occurrence_at else None,
    }


def business_context(business: Business) -> dict[str, Any]:
    return {"name": business.name, "timezone": business.timezone}


def render_message(
    reminder: Reminder, template: Template | None, context: dict[str, Any]
) -> tuple[str | None, str]:
    """The subject and body for one client; TemplateProblem if the template breaks."""
    subject_src = reminder.subject if reminder.subject is not None else None
    body_src = reminder.body
    if template is not None:
        subject_src = subject_src if subject_src is not None else template.subject
        body_src = body_src if body_src is not None else template.body
    if body_src is None:
        body_src = reminder.title
    subject = render(subject_src, context, "subject") if subject_src else reminder.title
    return subject, render(body_src, context, "body")
