from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth.schemas import BusinessRead
from api.business import service
from api.business.schemas import BusinessUpdate, MemberCreate, MemberRead
from api.deps import CurrentActor, OwnerActor, PasswordsDep, SessionDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse

router = APIRouter(prefix="/business", tags=["business"], responses=error_responses(*ACTOR_ERRORS))


@router.get("", response_model=BusinessRead)
async def read_business(actor: CurrentActor) -> BusinessRead:
    """The caller's business and its settings."""
    return BusinessRead.model_validate(actor.business)


@router.patch("", response_model=BusinessRead, responses=error_responses(403))
async def update_business(
    data: BusinessUpdate, actor: OwnerActor, session: SessionDep
) -> BusinessRead:
    """Change name, time zone, default channels or send window (owners)."""
    business = await service.update_business(session, actor, data)
    return BusinessRead.model_validate(business)


@router.get("/members", response_model=ListResponse[MemberRead])
async def list_members(actor: CurrentActor, session: SessionDep) -> ListResponse[MemberRead]:
    """Everyone on the business's staff."""
    members = await service.list_members(session, actor)
    return ListResponse(items=[service.member_read(m) for m in members], total=len(members))


@router.post(
    "/members",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409),
)
async def add_member(
    data: MemberCreate, actor: OwnerActor, session: SessionDep, passwords: PasswordsDep
) -> MemberRead:
    """Add a staff account (owners)."""
    membership = await service.add_member(session, passwords, actor, data)
    return service.member_read(membership)


@router.delete(
    "/members/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 409),
)
async def remove_member(member_id: str, actor: OwnerActor, session: SessionDep) -> Response:
    """Remove a staff account (owners); the last owner stays."""
    await service.remove_member(session, actor, id_or_404(member_id, "Member"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
