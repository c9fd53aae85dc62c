from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.client_fields.values import sample_value
from api.deps import Actor
from api.errors import Conflict, NotFound, Unprocessable
from api.templates.schemas import PreviewRequest, PreviewResponse, TemplateCreate, TemplateUpdate
from api.throttle import TooManyRequests
from core.messages import (
    VARIABLES_FIELD,
    business_context,
    client_context,
    reminder_context,
)
from core.models import Business, Client, Reminder, Template
from core.repositories.client_fields import ClientFieldRepository
from core.repositories.clients import ClientRepository
from core.repositories.templates import TemplateRepository
from core.templating import RenderBusy, TemplateProblem, render_async
from core.types import utcnow
from workflows import schedule as schedules


class TemplateInvalid(Unprocessable):
    """A template that does not parse or render; says which field and line."""

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(str(problem))
        self.line = problem.line
        self.field = problem.field

    def content(self) -> dict[str, Any]:
        return {"detail": self.detail, "line": self.line, "field": self.field}


async def _rendered(
    sources: Mapping[str, str], context: dict[str, Any], business_id: uuid.UUID
) -> dict[str, str]:
    """Rendered on the render threads, one of the business's renders at a time."""
    try:
        return await render_async(sources, context, owner=str(business_id))
    except TemplateProblem as problem:
        raise TemplateInvalid(problem) from None
    except RenderBusy:
        raise TooManyRequests(
            "This business already has several texts rendering; try again in a moment",
            retry_after=1,
        ) from None


async def trial_render(
    business_id: uuid.UUID,
    context: dict[str, Any],
    subject: str | None,
    body: str | None,
    variables: dict[str, str] | None = None,
) -> None:
    """Render the text about to be saved once, as a send would: text that breaks or passes
    a limit of the sandbox is refused here (422, with its field and line), not at send."""
    sources = {"subject": subject, "body": body}
    sources |= {VARIABLES_FIELD + name: value for name, value in (variables or {}).items()}
    given = {field: source for field, source in sources.items() if source is not None}
    if given:
        await _rendered(given, context, business_id)


async def get_template(session: AsyncSession, actor: Actor, template_id: uuid.UUID) -> Template:
    template = await TemplateRepository(session).get(actor.business_id, template_id)
    if template is None:
        raise NotFound("Template not found")
    return template


async def list_templates(
    session: AsyncSession, actor: Actor, search: str | None, limit: int, offset: int
) -> tuple[list[Template], int]:
    return await TemplateRepository(session).list(
        actor.business_id, search.strip() if search else None, limit, offset
    )


async def _ensure_name_free(session: AsyncSession, actor: Actor, name: str) -> None:
    if await TemplateRepository(session).get_by_name(actor.business_id, name) is not None:
        raise Conflict(f"A template named {name!r} already exists")


def _record(
    session: AsyncSession, actor: Actor, action: str, template: Template, **extra: Any
) -> None:
    actor.record(session, action, "template", template.id, name=template.name, **extra)


async def create_template(session: AsyncSession, actor: Actor, data: TemplateCreate) -> Template:
    context = await sample_context(session, actor.business)
    await trial_render(actor.business_id, context, data.subject, data.body)
    await _ensure_name_free(session, actor, data.name)
    template = await TemplateRepository(session).add(
        Template(
            business_id=actor.business_id,
            name=data.name,
            subject=data.subject,
            body=data.body,
            channel=data.channel.value if data.channel else None,
        )
    )
    _record(session, actor, "template.created", template)
    await session.commit()
    return template


async def update_template(
    session: AsyncSession, actor: Actor, template: Template, data: TemplateUpdate
) -> Template:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "body"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    await trial_render(
        actor.business_id,
        await sample_context(session, actor.business),
        changes.get("subject"),
        changes.get("body"),
    )
    if changes.get("name", template.name) != template.name:
        await _ensure_name_free(session, actor, changes["name"])
    for key, value in changes.items():
        setattr(template, key, value.value if key == "channel" and value else value)
    _record(session, actor, "template.updated", template, fields=sorted(changes))
    await session.commit()
    return template


async def delete_template(session: AsyncSession, actor: Actor, template: Template) -> None:
    _record(session, actor, "template.deleted", template)
    await TemplateRepository(session).delete(template)
    await session.commit()


# What `{{ done_url }}` shows in a preview; each real message carries the client's own link.
SAMPLE_DONE_URL = "https://example.invalid/api/v1/done/sample-link"


async def sample_context(
    session: AsyncSession, business: Business, reminder: Reminder | None = None
) -> dict[str, Any]:
    """What a send's template sees, built by the same functions (core.messages) so that
    every variable of a send is here: a sample client with every field filled in, the
    business's own fields too (so a template written for clients that have them renders,
    and one naming a field the business does not have is refused), and the given reminder
    (as it is scheduled) or a sample one due in a week."""
    in_a_week = utcnow() + timedelta(days=7)
    client = Client(
        id=uuid.uuid4(),
        name="Jane Example",
        email="jane@example.com",
        phone="+447700900123",
        secondary_phone="+447700900456",
        whatsapp="+447700900123",
        timezone=business.timezone,
        address="1 Example Street, London",
        external_ref="CL-0001",
    )
    fields = {
        field.name: sample_value(field.type, field.label)
        for field in await ClientFieldRepository(session).list(business.id)
    }
    if reminder is None:
        reminder = Reminder(
            id=uuid.uuid4(), title="Sample reminder", type="deadline", timezone=business.timezone
        )
        due_at: datetime | None = in_a_week
    else:
        due_at = schedules.due_at(reminder.schedule)
    occurrence_at = reminder.next_fire_at or in_a_week
    return {
        "client": client_context(client, ["example"], fields),
        "business": business_context(business),
        "reminder": reminder_context(reminder, due_at, occurrence_at),
        "done_url": SAMPLE_DONE_URL,
    }


async def preview(session: AsyncSession, actor: Actor, data: PreviewRequest) -> PreviewResponse:
    subject, body = data.subject, data.body
    if data.template_id is not None:
        template = await get_template(session, actor, data.template_id)
        subject, body = template.subject, template.body
    context = await sample_context(session, actor.business)
    if data.client_id is not None:
        client = await ClientRepository(session).get(actor.business_id, data.client_id)
        if client is None:
            raise NotFound("Client not found")
        context["client"] = client_context(client, client.tags)
    context.update(data.variables)
    assert body is not None  # PreviewRequest insists on a template_id or a body
    sources = {"body": body} if subject is None else {"subject": subject, "body": body}
    rendered = await _rendered(sources, context, actor.business_id)
    return PreviewResponse(subject=rendered.get("subject"), body=rendered["body"])
