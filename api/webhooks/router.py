"""Twilio calls these, not our users: no bearer token, Twilio's request signature instead.

A request is signed with the auth token of the Twilio account it comes from: the platform's
(TWILIO_AUTH_TOKEN), or a business's own (`/business/twilio`), found by the request's
AccountSid among every business that saved that account (saving needs the account's own
token, checked with Twilio). A request signed by a business's token can only touch that
business's deliveries and clients.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.datastructures import ImmutableMultiDict
from temporalio.client import Client as TemporalClient

from api.deps import SessionDep, SettingsDep, as_uuid, get_temporal_client
from api.errors import AppError, BadRequest, Forbidden, error_responses
from api.webhooks import late_failure, service
from channels import twilio_webhooks as twilio
from channels.twilio_webhooks import SHARED_KEY_HEADER, SIGNATURE_HEADER
from core.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/webhooks/twilio", tags=["webhooks"], responses=error_responses(400, 403, 415, 422, 503)
)

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 200
XML_TYPE = "application/xml"


class UnsupportedMediaType(AppError):
    status_code = 415
    default_detail = f"Expected a {FORM_TYPE} body"


Params = ImmutableMultiDict[str, str]


def public_url(settings: Settings, request: Request) -> str:
    """The URL Twilio called: we sit behind a proxy, and Twilio signs the public URL."""
    query = request.url.query
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.url.path + (f"?{query}" if query else "")


def _form(body: bytes, content_type: str | None) -> Params:
    if body and (content_type or "").split(";")[0].strip().lower() != FORM_TYPE:
        raise UnsupportedMediaType()
    try:
        fields = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # not ASCII, not UTF-8 once decoded, or too many fields
        raise BadRequest("The body is not a valid form-encoded Twilio request") from None
    return ImmutableMultiDict(fields)


@dataclass(frozen=True)
class Signed:
    """A Twilio request whose signature checked out, and whose token signed it."""

    params: Params
    # None: the platform's token. Else the businesses whose own Twilio account (by its
    # AccountSid and token) signed it; the request may touch only their rows.
    business_ids: frozenset[uuid.UUID] | None


async def twilio_params(request: Request, settings: SettingsDep, session: SessionDep) -> Signed:
    """The form fields, once Twilio's signature over them and the URL checks out."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Forbidden(f"Missing {SIGNATURE_HEADER} header")
    if request.headers.get(SHARED_KEY_HEADER):
        raise Forbidden(
            "Signed with a webhook SharedKey; only Auth Token signatures are accepted here"
        )
    params = _form(await request.body(), request.headers.get("content-type"))
    url = public_url(settings, request)
    signed: Signed | None = None
    if twilio.signed_by_platform(settings, url, params, signature):
        signed = Signed(params, None)
    else:
        signers = await twilio.business_signers(session, settings, params, url, signature)
        if signers:
            signed = Signed(params, signers)
    if signed is None:
        log.warning("rejected a Twilio webhook with a bad signature for %s", url)
        if not settings.TWILIO_AUTH_TOKEN:
            raise Forbidden(
                "Cannot verify Twilio's signature: TWILIO_AUTH_TOKEN is not set, and no "
                "business's own Twilio account signed it"
            )
        raise Forbidden(f"Invalid {SIGNATURE_HEADER}")
    if any("\x00" in value for _, value in params.multi_items()):
        raise BadRequest("Parameters must not contain NUL characters")
    return signed


TwilioParams = Annotated[Signed, Depends(twilio_params)]


class StatusAnswer(BaseModel):
    outcome: service.StatusOutcome


@router.post("/status", response_model=StatusAnswer)
async def twilio_status(
    signed: TwilioParams,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    delivery_id: Annotated[
        str | None, Query(description="The delivery the StatusCallback URL was made for.")
    ] = None,
) -> StatusAnswer:
    """Twilio's message status callback: records sent, delivered, undelivered or failed; a
    failure after the message was accepted falls back to the client's next channel when
    the reminder asks for fallback."""
    report = twilio.StatusReport.from_params(
        signed.params, as_uuid(delivery_id) if delivery_id else None
    )
    outcome = await service.apply_status(session, report, signed.business_ids)
    if outcome == "updated" and report.status in late_failure.FAILED:
        failed = await service.reported_delivery(session, report, signed.business_ids)

        async def temporal() -> TemporalClient:  # connected only for a fallback
            return await get_temporal_client(request)

        if failed is not None:
            await late_failure.fall_back(session, temporal, settings, failed)
    return StatusAnswer(outcome=outcome)


@router.post(
    "/inbound",
    response_class=Response,
    responses={200: {"content": {XML_TYPE: {}}, "description": "TwiML"}},
)
async def twilio_inbound(
    signed: TwilioParams, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Twilio's incoming messages: STOP/START opt out and in, HELP, DONE; others are replies."""
    message = twilio.InboundMessage.from_params(signed.params)

    async def temporal() -> TemporalClient:  # connected only for a DONE
        return await get_temporal_client(request)

    reply = await service.handle_inbound(
        session, message, temporal, signed.business_ids, settings.platform_senders
    )
    return Response(content=twilio.twiml(reply), media_type=XML_TYPE)
