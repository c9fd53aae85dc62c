"""A business's webhook endpoints: owners add, change, delete them and rotate their
secret; any member reads them and their delivery log. Every change is in the audit log
(never the secret). Where an endpoint may point is checked as for a business's own SMTP
server (core/network.py), and again by the worker at each delivery."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Actor
from api.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from api.webhook_endpoints.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from core.crypto import secret_box
from core.network import DestinationPolicy, DestinationRefused
from core.repositories.base import Total
from core.repositories.webhook_endpoints import (
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
)
from core.settings import Settings
from core.types import utcnow
from core.webhook_events import TEST_EVENT, add_delivery
from core.webhook_models import WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS = 10
SECRET_BYTES = 32
LOOKUP_TIMEOUT_SECONDS = 5.0


def new_secret() -> str:
    """Standard Webhooks' form: `whsec_` and the base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


async def check_url(settings: Settings, url: str) -> None:
    """422 unless events may be sent there: http(s) (https in production), a host, no
    credentials, and an address the platform may connect to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Unprocessable("url: not a valid URL") from None
    allowed = ("https",) if settings.is_production else ("https", "http")
    if parts.scheme not in allowed:
        raise Unprocessable(f"url: must start with {' or '.join(f'{s}://' for s in allowed)}")
    if not parts.hostname:
        raise Unprocessable("url: names no host")
    if "@" in parts.netloc:
        raise Unprocessable("url: must not carry a user name or password")
    try:
        await DestinationPolicy.for_webhooks(settings).check_saved(
            parts.hostname, port, LOOKUP_TIMEOUT_SECONDS
        )
    except DestinationRefused as refused:
        raise Unprocessable(f"url: {refused}") from None
    except (OSError, TimeoutError):
        raise ServiceUnavailable(
            f"Could not look up {parts.hostname} just now; try again in a moment"
        ) from None


def _record(
    session: AsyncSession, actor: Actor, action: str, endpoint: WebhookEndpoint, **extra: Any
) -> None:
    actor.record(
        session,
        action,
        "webhook_endpoint",
        endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        is_enabled=endpoint.is_enabled,
        **extra,
    )


async def get_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = await WebhookEndpointRepository(session).get(actor.business_id, endpoint_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


async def list_endpoints(
    session: AsyncSession, actor: Actor, limit: int, offset: int
) -> tuple[list[WebhookEndpoint], Total]:
    return await WebhookEndpointRepository(session).page(actor.business_id, limit, offset)


async def create_endpoint(
    session: AsyncSession, actor: Actor, settings: Settings, data: WebhookEndpointCreate
) -> WebhookEndpointCreated:
    repo = WebhookEndpointRepository(session)
    if await repo.count(actor.business_id) >= MAX_ENDPOINTS:
        raise Conflict(f"A business has at most {MAX_ENDPOINTS} webhook endpoints")
    await check_url(settings, data.url)
    secret = new_secret()
    endpoint = await repo.add(
        WebhookEndpoint(
            business_id=actor.business_id,
            url=data.url,
            description=data.description,
            events=list(data.events),
            is_enabled=data.is_enabled,
            secret_encrypted=secret_box(settings).encrypt(secret),
            consecutive_failures=0,
        )
    )
    _record(session, actor, "webhook_endpoint.created", endpoint)
    await session.commit()
    read = WebhookEndpointRead.model_validate(endpoint).model_dump()
    return WebhookEndpointCreated.model_validate({**read, "secret": secret})


async def update_endpoint(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    endpoint: WebhookEndpoint,
    data: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    changes = data.model_dump(exclude_unset=True)
    for required in ("url", "events", "is_enabled"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    if "url" in changes and changes["url"] != endpoint.url:
        await check_url(settings, changes["url"])
    if changes.get("is_enabled") and not endpoint.is_enabled:
        endpoint.consecutive_failures = 0  # a fresh start: its failures are forgiven
        endpoint.disabled_reason = None
    for name, value in changes.items():
        setattr(endpoint, name, list(value) if name == "events" else value)
    endpoint.updated_at = utcnow()
    _record(session, actor, "webhook_endpoint.updated", endpoint, fields=sorted(changes))
    await session.commit()
    return endpoint


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Its deliveries go with it: a pending one ends without sending."""
    _record(session, actor, "webhook_endpoint.deleted", endpoint)
    await WebhookEndpointRepository(session).delete(endpoint)
    await session.commit()


async def rotate_secret(
    session: AsyncSession, actor: Actor, settings: Settings, endpoint: WebhookEndpoint
) -> str:
    """A new secret at once: the next attempt of every delivery is signed with it."""
    secret = new_secret()
    endpoint.secret_encrypted = secret_box(settings).encrypt(secret)
    endpoint.updated_at = utcnow()
    _record(session, actor, "webhook_endpoint.secret_rotated", endpoint)
    await session.commit()
    return secret


async def send_test(
    session: AsyncSession, actor: Actor, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """A `webhook.test` event through the same durable path as the others."""
    if not endpoint.is_enabled:
        raise Conflict("The endpoint is disabled; enable it first")
    row = add_delivery(
        session,
        actor.business_id,
        endpoint.id,
        TEST_EVENT,
        {"endpoint_id": endpoint.id, "business_id": actor.business_id},
    )
    _record(session, actor, "webhook_endpoint.tested", endpoint, delivery_id=str(row.id))
    await session.commit()
    return row


async def list_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, limit: int, offset: int, status: str | None
) -> tuple[list[WebhookDelivery], Total]:
    return await WebhookDeliveryRepository(session).page(endpoint.id, limit, offset, status)
