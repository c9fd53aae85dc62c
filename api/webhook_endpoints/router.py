"""A business's outgoing webhook endpoints (`/webhooks/twilio/...` are Twilio's incoming
callbacks, a different thing). Owners manage them; every member reads them and their log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from api.deps import CurrentActor, OwnerActor, PageDep, SessionDep, SettingsDep, id_or_404
from api.errors import ACTOR_ERRORS, error_responses
from api.schemas import ListResponse
from api.webhook_endpoints import service
from api.webhook_endpoints.schemas import (
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookSecret,
    WebhookTestQueued,
)
from core.webhook_models import WebhookEndpoint

router = APIRouter(
    prefix="/webhook-endpoints",
    tags=["webhook-endpoints"],
    responses=error_responses(*ACTOR_ERRORS),
)


async def _endpoint(endpoint_id: str, actor: CurrentActor, session: SessionDep) -> WebhookEndpoint:
    return await service.get_endpoint(session, actor, id_or_404(endpoint_id, "Webhook endpoint"))


EndpointDep = Annotated[WebhookEndpoint, Depends(_endpoint)]


@router.get("", response_model=ListResponse[WebhookEndpointRead])
async def list_endpoints(
    actor: CurrentActor, session: SessionDep, page: PageDep
) -> ListResponse[WebhookEndpointRead]:
    """The business's webhook endpoints, newest first (never their secrets)."""
    items, total = await service.list_endpoints(session, actor, page.limit, page.offset)
    return ListResponse(items=[WebhookEndpointRead.model_validate(e) for e in items], total=total)


@router.post(
    "",
    response_model=WebhookEndpointCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409, 503),
)
async def create_endpoint(
    data: WebhookEndpointCreate, actor: OwnerActor, session: SessionDep, settings: SettingsDep
) -> WebhookEndpointCreated:
    """Add an endpoint (owners); its signing secret is in this answer only."""
    return await service.create_endpoint(session, actor, settings, data)


@router.get("/{endpoint_id}", response_model=WebhookEndpointRead)
async def read_endpoint(endpoint: EndpointDep) -> WebhookEndpointRead:
    """One webhook endpoint."""
    return WebhookEndpointRead.model_validate(endpoint)


@router.patch(
    "/{endpoint_id}", response_model=WebhookEndpointRead, responses=error_responses(403, 503)
)
async def update_endpoint(
    data: WebhookEndpointUpdate,
    actor: OwnerActor,
    endpoint: EndpointDep,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookEndpointRead:
    """Change an endpoint's URL, events or description, or disable and enable it (owners)."""
    changed = await service.update_endpoint(session, actor, settings, endpoint, data)
    return WebhookEndpointRead.model_validate(changed)


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403)
)
async def delete_endpoint(
    actor: OwnerActor, endpoint: EndpointDep, session: SessionDep
) -> Response:
    """Remove an endpoint and its log (owners); nothing more is sent to it."""
    await service.delete_endpoint(session, actor, endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/rotate-secret", response_model=WebhookSecret, responses=error_responses(403)
)
async def rotate_secret(
    actor: OwnerActor, endpoint: EndpointDep, session: SessionDep, settings: SettingsDep
) -> WebhookSecret:
    """Replace the signing secret at once (owners); the new one is in this answer only."""
    return WebhookSecret(secret=await service.rotate_secret(session, actor, settings, endpoint))


@router.get("/{endpoint_id}/deliveries", response_model=ListResponse[WebhookDeliveryRead])
async def list_deliveries(
    endpoint: EndpointDep,
    session: SessionDep,
    page: PageDep,
    delivery_status: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
) -> ListResponse[WebhookDeliveryRead]:
    """What was sent to the endpoint, newest first: status, attempts, last answer."""
    items, total = await service.list_deliveries(
        session, endpoint, page.limit, page.offset, delivery_status
    )
    return ListResponse(items=[WebhookDeliveryRead.model_validate(d) for d in items], total=total)


@router.post(
    "/{endpoint_id}/test",
    response_model=WebhookTestQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 409),
)
async def send_test(
    actor: OwnerActor, endpoint: EndpointDep, session: SessionDep
) -> WebhookTestQueued:
    """Send a `webhook.test` event to the endpoint (owners), retried like any other."""
    row = await service.send_test(session, actor, endpoint)
    return WebhookTestQueued(delivery_id=row.id, status=row.status)
