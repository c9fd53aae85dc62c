from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, status

from api.clients import importer, service
from api.clients.schemas import (
    ClientCreate,
    ClientDetail,
    ClientRead,
    ClientUpdate,
    ImportResult,
)
from api.deps import CurrentActor, PageDep, SessionDep, SettingsDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse
from core.models import Client

router = APIRouter(prefix="/clients", tags=["clients"], responses=error_responses(*ACTOR_ERRORS))

# PostgreSQL refuses NUL in text parameters; refuse it as bad input instead of failing.
NO_NUL = r"^[^\x00]*$"


async def get_client(client_id: str, actor: CurrentActor, session: SessionDep) -> Client:
    return await service.get_client(session, actor, id_or_404(client_id, "Client"))


ClientDep = Annotated[Client, Depends(get_client)]


@router.get("", response_model=ListResponse[ClientRead])
async def list_clients(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Part of a name, email, phone or external_ref.",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        Query(max_length=64, pattern=NO_NUL, description="Only clients with this tag."),
    ] = None,
    is_active: Annotated[
        bool | None, Query(description="Only active (true) or inactive (false) clients.")
    ] = None,
) -> ListResponse[ClientRead]:
    """The business's clients by name, optionally searched or filtered by tag."""
    clients, total = await service.list_clients(
        session,
        actor,
        search=search,
        tag=tag,
        is_active=is_active,
        limit=page.limit,
        offset=page.offset,
    )
    return ListResponse(items=[ClientRead.model_validate(c) for c in clients], total=total)


@router.post(
    "",
    response_model=ClientRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_client(data: ClientCreate, actor: CurrentActor, session: SessionDep) -> ClientRead:
    """Add a client."""
    client = await service.create_client(session, actor, data)
    return ClientRead.model_validate(client)


@router.post(
    "/import",
    response_model=ImportResult,
    response_model_exclude_none=True,
    responses=error_responses(409, 413),
)
async def import_clients(
    file: Annotated[UploadFile, File(description="CSV, UTF-8, with a header row.")],
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
) -> ImportResult:
    """Create or update clients from a CSV file; answers per row."""
    content = await file.read()
    return await importer.import_clients(session, actor, content, max_rows=settings.MAX_IMPORT_ROWS)


@router.get("/{client_id}", response_model=ClientDetail)
async def read_client(client: ClientDep, actor: CurrentActor, session: SessionDep) -> ClientDetail:
    """One client, with how many reminders and messages it has."""
    return await service.client_detail(session, actor, client)


@router.patch("/{client_id}", response_model=ClientRead, responses=error_responses(409))
async def update_client(
    data: ClientUpdate, client: ClientDep, actor: CurrentActor, session: SessionDep
) -> ClientRead:
    """Change a client; `tags` replaces the whole set, `fields` changes the values it names."""
    client = await service.update_client(session, actor, client, data)
    return ClientRead.model_validate(client)


@router.delete("/{client_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_client(client: ClientDep, actor: CurrentActor, session: SessionDep) -> Response:
    """Delete a client and its tags."""
    await service.delete_client(session, actor, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
