from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.client_fields import service
from api.client_fields.schemas import ClientFieldCreate, ClientFieldRead
from api.deps import CurrentActor, OwnerActor, SessionDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse

router = APIRouter(
    prefix="/business/client-fields",
    tags=["client fields"],
    responses=error_responses(*ACTOR_ERRORS),
)


@router.get("", response_model=ListResponse[ClientFieldRead])
async def list_client_fields(
    actor: CurrentActor, session: SessionDep
) -> ListResponse[ClientFieldRead]:
    """The fields the business keeps on its clients, in the order they were defined."""
    fields = await service.list_fields(session, actor)
    return ListResponse(
        items=[ClientFieldRead.model_validate(f) for f in fields], total=len(fields)
    )


@router.post(
    "",
    response_model=ClientFieldRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409),
)
async def create_client_field(
    data: ClientFieldCreate, actor: OwnerActor, session: SessionDep
) -> ClientFieldRead:
    """Define a field the business keeps on its clients (owners)."""
    return ClientFieldRead.model_validate(await service.create_field(session, actor, data))


@router.delete(
    "/{field_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403)
)
async def delete_client_field(field_id: str, actor: OwnerActor, session: SessionDep) -> Response:
    """Delete a field and every client's value of it (owners)."""
    await service.delete_field(session, actor, id_or_404(field_id, "Client field"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
