"""Emitting outgoing webhook events: `emit` adds one delivery row per subscribed, enabled
endpoint to the caller's session, so the rows commit (or roll back) with the fact they
report (a transactional outbox). After the commit, `start_committed` starts each row's
workflow; a start that never happens (the process stopped, Temporal was down) is made up
by the worker's sweep (`start_stranded`), which starts pending rows left unstarted.

Payloads follow Standard Webhooks: `{"type", "timestamp", "data"}`, with ids and codes
only: never a message's text nor a client's name, address or number.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from temporalio.client import Client

from core.repositories.webhook_endpoints import (
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
)
from core.types import utcnow
from core.webhook_models import PENDING, WebhookDelivery
from workflows.webhook_client import start_delivery

log = logging.getLogger(__name__)

DELIVERY_SENT = "delivery.sent"
DELIVERY_DELIVERED = "delivery.delivered"
DELIVERY_FAILED = "delivery.failed"
CLIENT_OPTED_OUT = "client.opted_out"
REPLY_RECEIVED = "reply.received"
REMINDER_COMPLETED = "reminder.completed"
CLIENT_DONE = "client.done"
# What an endpoint may subscribe to; `webhook.test` is sent only by the test button.
EVENT_TYPES = (
    DELIVERY_SENT,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    CLIENT_OPTED_OUT,
    REPLY_RECEIVED,
    REMINDER_COMPLETED,
    CLIENT_DONE,
)
TEST_EVENT = "webhook.test"

# A row still pending this long after it was written, never attempted, was never started.
STRANDED_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 200

# Ids of rows added in the session's open transaction, and of rows committed since.
_ADDED = "webhook_deliveries_added"
_COMMITTED = "webhook_deliveries_committed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    added = session.info.pop(_ADDED, None)
    if added:
        session.info.setdefault(_COMMITTED, []).extend(added)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_ADDED, None)  # never written: nothing to start


def payload(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": utcnow().isoformat(), "data": data}


def delivery_data(delivery: Any) -> dict[str, Any]:
    """What a delivery.* event says of a delivery (a Delivery or a row with its columns)."""
    return {
        "delivery_id": delivery.id,
        "reminder_id": delivery.reminder_id,
        "client_id": delivery.client_id,
        "channel": delivery.channel,
        "status": delivery.status,
        "error_code": delivery.error_code,
    }


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def emit(
    session: AsyncSession, business_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """A delivery row for each of the business's enabled endpoints subscribed to
    `event_type` (flushed with the caller's transaction); none when there is none."""
    endpoints = await WebhookEndpointRepository(session).subscribed(business_id, event_type)
    return [
        add_delivery(session, business_id, endpoint.id, event_type, data) for endpoint in endpoints
    ]


def add_delivery(
    session: AsyncSession,
    business_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
) -> WebhookDelivery:
    """One event for one endpoint, whatever it subscribed to (the test event)."""
    row = WebhookDelivery(
        id=uuid.uuid4(),
        business_id=business_id,
        endpoint_id=endpoint_id,
        event_type=event_type,
        payload=payload(event_type, {k: _text(v) for k, v in data.items()}),
        status=PENDING,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(row)
    session.info.setdefault(_ADDED, []).append(row.id)
    return row


ClientGetter = Callable[[], Awaitable[Client]]


async def start_committed(session: AsyncSession, temporal: ClientGetter, task_queue: str) -> int:
    """Start the workflows of the rows this session committed; how many started. Failures
    are logged, not raised: the fact is recorded, and the sweep starts what is left."""
    ids = session.info.pop(_COMMITTED, None)
    if not ids:
        return 0
    started = 0
    try:
        client = await temporal()
        for delivery_id in ids:
            started += await start_delivery(client, task_queue, str(delivery_id))
    except Exception as exc:
        log.warning(
            "webhook deliveries not started now (the worker's sweep will): %s",
            f"{exc.__class__.__name__}: {exc}",
        )
    return started


async def start_stranded(
    sessionmaker: async_sessionmaker[AsyncSession], client: Client, task_queue: str
) -> int:
    """Start the workflows of pending rows never attempted a while after they were written
    (their start was lost); how many started. Rows whose workflow runs are left alone."""
    async with sessionmaker() as session:
        ids = await WebhookDeliveryRepository(session).stranded(
            utcnow() - STRANDED_AFTER, SWEEP_BATCH
        )
    started = 0
    for delivery_id in ids:
        started += await start_delivery(client, task_queue, str(delivery_id))
    if started:
        log.info("started %d webhook deliveries whose start was lost", started)
    return started
