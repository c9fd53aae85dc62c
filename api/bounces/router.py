"""An inbound-mail service calls this with the bounces that reach the platform's return
address, not our users: no bearer token, the platform's BOUNCE_WEBHOOK_SECRET instead.

The body is the bounce itself, the raw RFC 5322 message as received, with
`Content-Type: message/rfc822`; it must be an RFC 3464 delivery status notification.
The secret comes as `X-Bounce-Secret: <secret>` or as HTTP basic auth's password (any user
name), so a service that only takes a URL can post to `https://bounces:<secret>@host/...`.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import APIRouter, Depends, Request
from temporalio.client import Client as TemporalClient

from api.bounces import service
from api.bounces.schemas import BounceAnswer
from api.deps import SessionDep, SettingsDep, get_temporal_client
from api.errors import AppError, NotFound, Unprocessable, error_responses
from channels.email_bounces import NotAReport, parse_report

router = APIRouter(
    prefix="/webhooks/email",
    tags=["webhooks"],
    responses=error_responses(401, 404, 413, 415, 422),
)

SECRET_HEADER = "X-Bounce-Secret"
MESSAGE_TYPE = "message/rfc822"


class UnsupportedMediaType(AppError):
    status_code = 415
    default_detail = f"Expected a {MESSAGE_TYPE} body: the bounce as received"


class BadSecret(AppError):
    status_code = 401
    default_detail = f"Give the bounce secret in {SECRET_HEADER} or as the basic auth password"


def _presented(request: Request) -> str | None:
    """The secret the caller gave, in the header or as basic auth's password."""
    header = request.headers.get(SECRET_HEADER)
    if header:
        return header
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


async def bounce_secret(request: Request, settings: SettingsDep) -> None:
    """Refuses the request unless it carries BOUNCE_WEBHOOK_SECRET (unset: no such route)."""
    expected = settings.BOUNCE_WEBHOOK_SECRET
    if not expected:
        raise NotFound("Not Found")
    given = _presented(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadSecret(headers={"WWW-Authenticate": 'Basic realm="bounces"'})


@router.post(
    "/bounce",
    status_code=202,
    response_model=BounceAnswer,
    dependencies=[Depends(bounce_secret)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MESSAGE_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def email_bounce(
    session: SessionDep, settings: SettingsDep, request: Request
) -> BounceAnswer:
    """An email bounce (RFC 3464): a hard bounce marks the delivery undelivered and falls
    back to the client's next channel when the reminder asks for fallback."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != MESSAGE_TYPE:
        raise UnsupportedMediaType()
    try:
        bounce = parse_report(await request.body())
    except NotAReport as exc:
        raise Unprocessable(str(exc)) from None

    async def temporal() -> TemporalClient:  # connected only for a fallback
        return await get_temporal_client(request)

    await service.apply_bounce(session, temporal, settings, bounce)
    return BounceAnswer()
