"""Staff invitations by email: owners invite, list and revoke; the invitee accepts with
the link's token (here as JSON, or on the dashboard's page the email links to)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import OwnerActor, PasswordsDep, SessionDep, SettingsDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.invitations import accept, service
from api.invitations.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
)
from api.schemas import ListResponse

router = APIRouter(
    prefix="/business/invitations",
    tags=["business"],
    responses=error_responses(*ACTOR_ERRORS, 403),
)
public_router = APIRouter(prefix="/invitations", tags=["business"])


@router.post(
    "",
    response_model=InvitationCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def invite(
    data: InvitationCreate, actor: OwnerActor, session: SessionDep, settings: SettingsDep
) -> InvitationCreated:
    """Invite someone to the staff by email (owners); the link works once, INVITATION_DAYS."""
    return await service.invite(session, actor, data, settings)


@router.get("", response_model=ListResponse[InvitationRead])
async def list_invitations(actor: OwnerActor, session: SessionDep) -> ListResponse[InvitationRead]:
    """Pending invitations: not yet accepted, revoked or expired (owners)."""
    items = await service.pending(session, actor)
    return ListResponse(items=items, total=len(items))


@router.delete(
    "/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(409)
)
async def revoke_invitation(invitation_id: str, actor: OwnerActor, session: SessionDep) -> Response:
    """Withdraw a pending invitation (owners): its link stops working."""
    await service.revoke(session, actor, id_or_404(invitation_id, "Invitation"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public_router.post(
    "/accept",
    response_model=InvitationAccepted,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 404, 409, 410, 422, 429, 503),
)
async def accept_invitation(
    data: InvitationAccept,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    request: Request,
) -> InvitationAccepted:
    """Accept an invitation with its token: makes the account (or joins an existing one
    without a business, with its password) and signs it in."""
    ip = request.client.host if request.client else None
    throttle = request.app.state.throttle
    return await accept.accept_for_api(session, throttle, passwords, settings, data, ip)
