"""A business's API keys. Owners manage them signed in: a key is never accepted here."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.api_keys import service
from api.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from api.deps import PageDep, SessionDep, SignedInOwner, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse

router = APIRouter(
    prefix="/api-keys", tags=["api-keys"], responses=error_responses(*ACTOR_ERRORS, 403)
)


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_api_key(
    data: ApiKeyCreate, actor: SignedInOwner, session: SessionDep
) -> ApiKeyCreated:
    """Make a key for the business's own systems (owners); the key is in this answer only."""
    return await service.create_key(session, actor, data)


@router.get("", response_model=ListResponse[ApiKeyRead])
async def list_api_keys(
    actor: SignedInOwner, session: SessionDep, page: PageDep
) -> ListResponse[ApiKeyRead]:
    """The business's keys, revoked and expired ones too, newest first (owners; never the key)."""
    items, total = await service.list_keys(session, actor, page.limit, page.offset)
    return ListResponse(items=[ApiKeyRead.model_validate(k) for k in items], total=total)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: str, actor: SignedInOwner, session: SessionDep) -> Response:
    """Revoke a key (owners): the next request made with it is refused."""
    await service.revoke_key(session, actor, id_or_404(key_id, "API key"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
