"""A webhook endpoint as made (its signing secret, this once), changed and listed, and the
log of what was sent to it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from api.schemas import InputModel, ReadModel
from core.webhook_events import EVENT_TYPES
from core.webhook_models import MAX_URL

EventType = Literal[
    "delivery.sent",
    "delivery.delivered",
    "delivery.failed",
    "client.opted_out",
    "reply.received",
    "reminder.completed",
    "client.done",
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


def _unique_sorted(values: list[str]) -> list[str]:
    return sorted(set(values))


Events = Annotated[
    list[EventType],
    Field(min_length=1, max_length=len(EVENT_TYPES)),
    AfterValidator(_unique_sorted),
]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL)]
Description = Annotated[str, Field(max_length=500)]


class WebhookEndpointCreate(InputModel):
    url: Url = Field(description="Where events are POSTed; https (in production, always).")
    description: Description | None = None
    events: Events = Field(description="The event types to send here.")
    is_enabled: bool = True


class WebhookEndpointUpdate(InputModel):
    url: Url | None = None
    description: Description | None = None
    events: Events | None = None
    is_enabled: bool | None = Field(
        default=None, description="Enabling it again clears its run of failures."
    )


class WebhookEndpointRead(ReadModel):
    id: uuid.UUID
    url: str
    description: str | None
    events: list[str]
    is_enabled: bool
    disabled_reason: str | None = Field(description="Why the platform disabled it, if it did.")
    consecutive_failures: int = Field(description="Deliveries failed in a row (after retries).")
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="The signing secret (`whsec_...`): shown this once (rotate for a new one)."
    )


class WebhookSecret(ReadModel):
    secret: str = Field(description="The new signing secret: shown this once.")


class WebhookDeliveryRead(ReadModel):
    id: uuid.UUID = Field(description="The `webhook-id` header the receiver got.")
    endpoint_id: uuid.UUID
    event_type: str
    payload: dict[str, object]
    status: str = Field(description="pending, succeeded or failed.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime


class WebhookTestQueued(ReadModel):
    delivery_id: uuid.UUID
    status: str
