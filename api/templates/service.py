from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.errors import Conflict, NotFound, Unprocessable
from api.templates.schemas import PreviewRequest, PreviewResponse, TemplateCreate, TemplateUpdate
from core.messages import business_context, client_context
from core.models import Business, Template
from core.repositories.clients import ClientRepository
from core.repositories.templates import TemplateRepository
from core.templating import TemplateProblem, check_syntax, render
from core.types import utcnow

T = TypeVar("T")


class TemplateInvalid(Unprocessable):
    """A template that does not parse or render; says which field and line."""

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(str(problem))
        self.line = problem.line
        self.field = problem.field

    def content(self) -> dict[str, Any]:
        return {"detail": self.detail, "line": self.line, "field": self.field}


def _guarded(run: Callable[[], T]) -> T:
    try:
        return run()
    except TemplateProblem as problem:
        raise TemplateInvalid(problem) from None


def _render(source: str, context: dict[str, Any], field: str) -> str:
    return _guarded(lambda: render(source, context, field))


def check_template(
    subject: str | None, body: str | None, variables: dict[str, str] | None = None
) -> None:
    if subject is not None:
        _guarded(lambda: check_syntax(subject, "subject"))
    if body is not None:
        _guarded(lambda: check_syntax(body, "body"))
    for name, value in (variables or {}).items():
        try:
            check_syntax(value, f"whatsapp_content_variables.{name}")
        except TemplateProblem as problem:
            raise TemplateInvalid(problem) from None


async def get_template(session: AsyncSession, actor: Actor, template_id: uuid.UUID) -> Template:
    template = await TemplateRepository(session).get(actor.business_id, template_id)
    if template is None:
        raise NotFound("Template not found")
    return template


async def _ensure_name_free(session: AsyncSession, actor: Actor, name: str) -> None:
    if await TemplateRepository(session).get_by_name(actor.business_id, name) is not None:
        raise Conflict(f"A template named {name!r} already exists")


def _record(
    session: AsyncSession, actor: Actor, action: str, template: Template, **extra: Any
) -> None:
    actor.record(session, action, "template", template.id, name=template.name, **extra)


async def create_template(session: AsyncSession, actor: Actor, data: TemplateCreate) -> Template:
    check_template(data.subject, data.body)
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
    return template


async def update_template(
    session: AsyncSession, actor: Actor, template: Template, data: TemplateUpdate
) -> Template:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "body"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    check_template(changes.get("subject"), changes.get("body"))
    if changes.get("name", template.name) != template.name:
        await _ensure_name_free(session, actor, changes["name"])
    for key, value in changes.items():
        setattr(template, key, value.value if key == "channel" and value else value)
    _record(session, actor, "template.updated", template, fields=sorted(changes))
    await session.flush()
    return template


async def delete_template(session: AsyncSession, actor: Actor, template: Template) -> None:
    _record(session, actor, "template.deleted", template)
    await TemplateRepository(session).delete(template)


def sample_context(business: Business) -> dict[str, Any]:
    """Stand-ins for a preview: a sample client and a reminder due in a week."""
    return {
        # Built afresh each time: the sandbox lets a template call list.append.
        "client": {
            "name": "Jane Example",
            "email": "jane@example.com",
            "phone": "+447700900123",
            "whatsapp": "+447700900123",
            "timezone": business.timezone,
            "tags": [],
            "external_ref": None,
        },
        "business": business_context(business),
        "reminder": {
            "title": "Sample reminder",
            "due_at": (utcnow() + timedelta(days=7)).isoformat(),
            "type": "deadline",
        },
    }


async def preview(session: AsyncSession, actor: Actor, data: PreviewRequest) -> PreviewResponse:
    subject, body = data.subject, data.body
    if data.template_id is not None:
        template = await get_template(session, actor, data.template_id)
        subject, body = template.subject, template.body
    context = sample_context(actor.business)
    if data.client_id is not None:
        client = await ClientRepository(session).get(actor.business_id, data.client_id)
        if client is None:
            raise NotFound("Client not found")
        context["client"] = client_context(client, client.tags)
    context.update(data.variables)
    assert body is not None  # PreviewRequest insists on a template_id or a body
    return PreviewResponse(
        subject=None if subject is None else _render(subject, context, "subject"),
        body=_render(body, context, "body"),
    )
