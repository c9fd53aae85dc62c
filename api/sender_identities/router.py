from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.deps import CurrentActor, OwnerActor, PageDep, SessionDep, SettingsDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse
from api.sender_identities import service, verification
from api.sender_identities.schemas import (
    SenderIdentityCreate,
    SenderIdentityRead,
    SenderIdentityUpdate,
    VerificationConfirm,
    VerificationSent,
)
from core.enums import Channel
from core.models import SenderIdentity

router = APIRouter(
    prefix="/sender-identities",
    tags=["sender-identities"],
    responses=error_responses(*ACTOR_ERRORS),
)


async def _identity(identity_id: str, actor: CurrentActor, session: SessionDep) -> SenderIdentity:
    return await service.get_identity(session, actor, id_or_404(identity_id, "Sender identity"))


IdentityDep = Annotated[SenderIdentity, Depends(_identity)]


@router.get("", response_model=ListResponse[SenderIdentityRead])
async def list_identities(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    channel: Annotated[Channel | None, Query()] = None,
) -> ListResponse[SenderIdentityRead]:
    """The business's sender identities, optionally for one channel."""
    items, total = await service.list_identities(session, actor, channel, page.limit, page.offset)
    return ListResponse(items=[SenderIdentityRead.model_validate(i) for i in items], total=total)


@router.post(
    "",
    response_model=SenderIdentityRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409),
)
async def create_identity(
    data: SenderIdentityCreate, actor: OwnerActor, session: SessionDep, settings: SettingsDep
) -> SenderIdentityRead:
    """Add a sender identity (owners); the first of a channel becomes its default."""
    identity = await service.create_identity(session, actor, data, settings)
    return SenderIdentityRead.model_validate(identity)


@router.get("/{identity_id}", response_model=SenderIdentityRead)
async def read_identity(identity: IdentityDep) -> SenderIdentityRead:
    """One sender identity."""
    return SenderIdentityRead.model_validate(identity)


@router.patch(
    "/{identity_id}", response_model=SenderIdentityRead, responses=error_responses(403, 409)
)
async def update_identity(
    data: SenderIdentityUpdate,
    actor: OwnerActor,
    identity: IdentityDep,
    session: SessionDep,
    settings: SettingsDep,
) -> SenderIdentityRead:
    """Change a sender identity or make it its channel's default (owners)."""
    identity = await service.update_identity(session, actor, identity, data, settings)
    return SenderIdentityRead.model_validate(identity)


@router.delete(
    "/{identity_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403)
)
async def delete_identity(
    actor: OwnerActor, identity: IdentityDep, session: SessionDep
) -> Response:
    """Remove a sender identity (owners); a deleted default passes to the oldest remaining."""
    await service.delete_identity(session, actor, identity)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{identity_id}/verify",
    response_model=VerificationSent,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 502),
)
async def verify_identity(
    actor: OwnerActor, identity: IdentityDep, session: SessionDep, settings: SettingsDep
) -> VerificationSent:
    """Send a one-time code to the identity's address or number (owners); replaces any."""
    sent = await verification.send_code(session, actor, identity, settings)
    return VerificationSent(sent_to=sent.sent_to, expires_at=sent.expires_at)


@router.post(
    "/{identity_id}/confirm", response_model=SenderIdentityRead, responses=error_responses(403)
)
async def confirm_identity(
    data: VerificationConfirm,
    actor: OwnerActor,
    identity: IdentityDep,
    session: SessionDep,
    settings: SettingsDep,
) -> SenderIdentityRead:
    """Mark the identity verified with the code it was sent (owners)."""
    identity = await verification.confirm_code(session, actor, identity, data.code, settings)
    return SenderIdentityRead.model_validate(identity)
