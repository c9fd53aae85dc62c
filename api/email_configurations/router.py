from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.deps import CurrentActor, OwnerActor, PageDep, SessionDep, SettingsDep, id_or_404
from api.email_configurations import service
from api.email_configurations.schemas import (
    EmailConfigurationCreate,
    EmailConfigurationRead,
    EmailConfigurationTestResult,
    EmailConfigurationUpdate,
)
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse
from core.models import EmailConfiguration

router = APIRouter(
    prefix="/email-configurations",
    tags=["email-configurations"],
    responses=error_responses(*ACTOR_ERRORS),
)


async def _configuration(
    config_id: str, actor: CurrentActor, session: SessionDep
) -> EmailConfiguration:
    return await service.get_configuration(
        session, actor, id_or_404(config_id, "Email configuration")
    )


ConfigurationDep = Annotated[EmailConfiguration, Depends(_configuration)]


@router.get("", response_model=ListResponse[EmailConfigurationRead])
async def list_configurations(
    actor: CurrentActor, session: SessionDep, page: PageDep
) -> ListResponse[EmailConfigurationRead]:
    """The business's SMTP servers (passwords are never shown: `has_password`)."""
    items, total = await service.list_configurations(session, actor, page.limit, page.offset)
    return ListResponse(items=[EmailConfigurationRead.of(c) for c in items], total=total)


@router.post(
    "",
    response_model=EmailConfigurationRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409),
)
async def create_configuration(
    data: EmailConfigurationCreate, actor: OwnerActor, session: SessionDep, settings: SettingsDep
) -> EmailConfigurationRead:
    """Add an SMTP server (owners); the first becomes the default the business sends with."""
    config = await service.create_configuration(session, actor, settings, data)
    return EmailConfigurationRead.of(config)


@router.get("/{config_id}", response_model=EmailConfigurationRead)
async def read_configuration(config: ConfigurationDep) -> EmailConfigurationRead:
    """One SMTP server."""
    return EmailConfigurationRead.of(config)


@router.patch(
    "/{config_id}", response_model=EmailConfigurationRead, responses=error_responses(403, 409)
)
async def update_configuration(
    data: EmailConfigurationUpdate,
    actor: OwnerActor,
    config: ConfigurationDep,
    session: SessionDep,
    settings: SettingsDep,
) -> EmailConfigurationRead:
    """Change an SMTP server, its password, or make it the default (owners)."""
    config = await service.update_configuration(session, actor, settings, config, data)
    return EmailConfigurationRead.of(config)


@router.delete(
    "/{config_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 409)
)
async def delete_configuration(
    actor: OwnerActor, config: ConfigurationDep, session: SessionDep
) -> Response:
    """Remove an SMTP server (owners) no live reminder or sender identity names; 409 if one
    does. Without a default, email uses the platform's."""
    await service.delete_configuration(session, actor, config)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{config_id}/test",
    response_model=EmailConfigurationTestResult,
    responses=error_responses(403),
)
async def test_configuration(
    actor: OwnerActor, config: ConfigurationDep, session: SessionDep, settings: SettingsDep
) -> EmailConfigurationTestResult:
    """Send a test message to yourself with this server (owners); a failure is `ok: false`."""
    return await service.test_configuration(session, actor, settings, config)
