from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.deps import CurrentActor, PageDep, SessionDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse
from api.templates import service
from api.templates.schemas import (
    PreviewRequest,
    PreviewResponse,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
)
from core.models import Template

router = APIRouter(
    prefix="/templates", tags=["templates"], responses=error_responses(*ACTOR_ERRORS)
)


async def _template(template_id: str, actor: CurrentActor, session: SessionDep) -> Template:
    return await service.get_template(session, actor, id_or_404(template_id, "Template"))


TemplateDep = Annotated[Template, Depends(_template)]


@router.get("", response_model=ListResponse[TemplateRead])
async def list_templates(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    search: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
) -> ListResponse[TemplateRead]:
    """The business's message templates, by name."""
    items, total = await service.list_templates(session, actor, search, page.limit, page.offset)
    return ListResponse(items=[TemplateRead.model_validate(t) for t in items], total=total)


@router.post(
    "",
    response_model=TemplateRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_template(
    data: TemplateCreate, actor: CurrentActor, session: SessionDep
) -> TemplateRead:
    """Save a template; text that does not render once with sample values is refused."""
    template = await service.create_template(session, actor, data)
    return TemplateRead.model_validate(template)


@router.post("/preview", response_model=PreviewResponse)
async def preview_template(
    data: PreviewRequest, actor: CurrentActor, session: SessionDep
) -> PreviewResponse:
    """Render a saved or inline template for a client, or a sample one."""
    return await service.preview(session, actor, data)


@router.get("/{template_id}", response_model=TemplateRead)
async def read_template(template: TemplateDep) -> TemplateRead:
    """One template."""
    return TemplateRead.model_validate(template)


@router.patch("/{template_id}", response_model=TemplateRead, responses=error_responses(409))
async def update_template(
    data: TemplateUpdate, actor: CurrentActor, template: TemplateDep, session: SessionDep
) -> TemplateRead:
    """Change a template; text that does not render once with sample values is refused."""
    template = await service.update_template(session, actor, template, data)
    return TemplateRead.model_validate(template)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    actor: CurrentActor, template: TemplateDep, session: SessionDep
) -> Response:
    """Remove a template."""
    await service.delete_template(session, actor, template)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
