from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from api.deps import CurrentActor, PageDep, SessionDep
from api.errors import NotFound
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
from core.repositories.templates import TemplateRepository


class TemplateErrorRoute(APIRoute):
    """Answers a template error with its `line` and `field` beside `detail`.

    The app-wide handler only knows `detail`; an editor needs the line to point at.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except service.TemplateInvalid as exc:
                return JSONResponse(exc.content(), status_code=exc.status_code)

        return route


router = APIRouter(prefix="/templates", tags=["templates"], route_class=TemplateErrorRoute)


async def _template(template_id: str, actor: CurrentActor, session: SessionDep) -> Template:
    # The id is read as text so a malformed one is "not found", like another business's.
    try:
        parsed = uuid.UUID(template_id)
    except ValueError:
        raise NotFound("Template not found") from None
    return await service.get_template(session, actor, parsed)


TemplateDep = Annotated[Template, Depends(_template)]


@router.get("", response_model=ListResponse[TemplateRead])
async def list_templates(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    search: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
) -> ListResponse[TemplateRead]:
    """The business's message templates, by name."""
    items, total = await TemplateRepository(session).list(
        actor.business_id, search.strip() if search else None, page.limit, page.offset
    )
    return ListResponse(items=[TemplateRead.model_validate(t) for t in items], total=total)


@router.post("", response_model=TemplateRead, status_code=status.HTTP_201_CREATED)
async def create_template(
    data: TemplateCreate, actor: CurrentActor, session: SessionDep
) -> TemplateRead:
    """Save a template; a syntax error is refused with its line."""
    template = await service.create_template(session, actor, data)
    await session.commit()
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


@router.patch("/{template_id}", response_model=TemplateRead)
async def update_template(
    data: TemplateUpdate, actor: CurrentActor, template: TemplateDep, session: SessionDep
) -> TemplateRead:
    """Change a template; a syntax error is refused with its line."""
    template = await service.update_template(session, actor, template, data)
    await session.commit()
    return TemplateRead.model_validate(template)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    actor: CurrentActor, template: TemplateDep, session: SessionDep
) -> Response:
    """Remove a template."""
    await service.delete_template(session, actor, template)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
