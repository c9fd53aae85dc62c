from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CurrentActor, OwnerActor, SessionDep, SettingsDep
from api.errors import ACTOR_ERRORS, error_responses
from api.twilio_credentials import service
from api.twilio_credentials.schemas import (
    TwilioCredentialsRead,
    TwilioCredentialsTestResult,
    TwilioCredentialsWrite,
)

router = APIRouter(
    prefix="/business/twilio",
    tags=["business"],
    responses=error_responses(*ACTOR_ERRORS),
)


@router.get("", response_model=TwilioCredentialsRead, responses=error_responses(404))
async def read_credentials(actor: CurrentActor, session: SessionDep) -> TwilioCredentialsRead:
    """The business's own Twilio account (the auth token is never shown: `has_auth_token`);
    404 when it has none and the platform's account sends its SMS and WhatsApp."""
    return TwilioCredentialsRead.of(await service.get_credentials(session, actor))


@router.put(
    "",
    response_model=TwilioCredentialsRead,
    responses={201: {"model": TwilioCredentialsRead}, **error_responses(403, 409, 503)},
)
async def save_credentials(
    data: TwilioCredentialsWrite,
    actor: OwnerActor,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> TwilioCredentialsRead:
    """Send this business's SMS and WhatsApp through its own Twilio account (owners),
    once Twilio accepts the credentials: 201 when added, 200 when replaced. The messaging
    service sends SMS for which the business has no sender identity."""
    credentials, created = await service.save_credentials(session, actor, settings, data)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return TwilioCredentialsRead.of(credentials)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 404))
async def delete_credentials(actor: OwnerActor, session: SessionDep) -> Response:
    """Forget the business's Twilio account (owners): the platform's sends again."""
    await service.delete_credentials(session, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/test", response_model=TwilioCredentialsTestResult, responses=error_responses(403, 404)
)
async def test_credentials(
    actor: OwnerActor, session: SessionDep, settings: SettingsDep
) -> TwilioCredentialsTestResult:
    """Check the stored credentials with Twilio (owners); sends no message. A refusal is
    `ok: false` with the stage: connect, auth or messaging_service."""
    return await service.test_credentials(session, actor, settings)
