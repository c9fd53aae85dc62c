"""The webhook activities: one signed POST per attempt (`deliver_webhook`), and giving a
delivery up once its day of retries is over (`give_up_webhook`). Each attempt is recorded
on the row before the POST (a worker killed mid-POST still counts it) and its answer
after; the `webhook-id` is the row's id, the same on every retry."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.webhook_http import Answer, post, signed_headers
from core.crypto import secret_box
from core.events import record_event
from core.network import DestinationPolicy
from core.repositories.webhook_endpoints import (
    WebhookDeliveryRepository,
    WebhookEndpointRepository,
)
from core.settings import Settings
from core.types import utcnow
from core.webhook_events import start_committed
from core.webhook_models import FAILED, MAX_ERROR, PENDING, SUCCEEDED
from workflows.contracts import DELIVER_WEBHOOK, GIVE_UP_WEBHOOK
from workflows.webhooks import RETRY, WebhookDeliveryInput

ENDPOINT_GONE = "endpoint disabled: not sent"


async def start_emitted(session: AsyncSession, settings: Settings) -> None:
    """From an activity, after its commit: start the webhook deliveries it wrote."""

    async def client() -> Client:
        return activity.client()

    await start_committed(session, client, settings.TEMPORAL_TASK_QUEUE)


def _next_attempt_in(attempt: int) -> timedelta:
    """When the retry policy tries again after attempt number `attempt`."""
    initial = RETRY.initial_interval.total_seconds()
    assert RETRY.maximum_interval is not None
    seconds = initial * RETRY.backoff_coefficient ** (attempt - 1)
    return timedelta(seconds=min(seconds, RETRY.maximum_interval.total_seconds()))


class WebhookActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        # Attempts beyond WEBHOOK_MAX_CONCURRENT are refused at once (retried later), so
        # slow endpoints never hold the activity slots the message sends need.
        self.slots = asyncio.Semaphore(settings.WEBHOOK_MAX_CONCURRENT)

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver_webhook(self, data: WebhookDeliveryInput) -> str:
        """One attempt; raises (so Temporal retries) unless the endpoint accepted it."""
        if self.slots.locked():
            raise ApplicationError(
                "this worker has as many webhook POSTs in flight as it allows "
                "(WEBHOOK_MAX_CONCURRENT); tried again later",
                type="WebhookWorkerBusy",
            )
        async with self.slots:
            return await self._attempt(data)

    async def _attempt(self, data: WebhookDeliveryInput) -> str:
        delivery_id = uuid.UUID(data.delivery_id)
        async with self.sessionmaker() as session:
            found = await WebhookDeliveryRepository(session).lock(delivery_id)
            if found is None:
                return "gone"  # the endpoint (and its log) was deleted
            delivery, endpoint = found
            if delivery.status != PENDING:
                return delivery.status
            if not endpoint.is_enabled:
                delivery.status = FAILED
                delivery.last_error = ENDPOINT_GONE
                await session.commit()
                return FAILED
            now = utcnow()
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.next_attempt_at = None
            url, body = endpoint.url, json.dumps(delivery.payload, separators=(",", ":"))
            secret = secret_box(self.settings).decrypt(endpoint.secret_encrypted)
            await session.commit()
        headers = signed_headers(secret, str(delivery_id), now, body)
        answer = await post(
            DestinationPolicy.for_webhooks(self.settings),
            url,
            headers,
            body,
            self.settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        await self._record(delivery_id, answer)
        if answer.error is not None:
            raise ApplicationError(answer.error, type="WebhookNotAccepted")
        return SUCCEEDED

    async def _record(self, delivery_id: uuid.UUID, answer: Answer) -> None:
        async with self.sessionmaker() as session:
            found = await WebhookDeliveryRepository(session).lock(delivery_id)
            if found is None:
                return
            delivery, endpoint = found
            delivery.last_status_code = answer.status_code
            delivery.last_error = answer.error[:MAX_ERROR] if answer.error else None
            if answer.error is None:
                delivery.status = SUCCEEDED
                if endpoint.consecutive_failures:
                    endpoint.consecutive_failures = 0
            else:
                attempt = activity.info().attempt
                delivery.next_attempt_at = utcnow() + _next_attempt_in(attempt)
            await session.commit()

    @activity.defn(name=GIVE_UP_WEBHOOK)
    async def give_up_webhook(self, data: WebhookDeliveryInput) -> str:
        """A day of attempts failed: the row is failed; the endpoint is disabled (with an
        audit event) after WEBHOOK_DISABLE_AFTER_FAILURES such deliveries in a row."""
        async with self.sessionmaker() as session:
            found = await WebhookDeliveryRepository(session).lock(uuid.UUID(data.delivery_id))
            if found is None:
                return "gone"
            delivery, endpoint = found
            if delivery.status != PENDING:
                return delivery.status
            delivery.status = FAILED
            delivery.next_attempt_at = None
            endpoints = WebhookEndpointRepository(session)
            failures = await endpoints.count_failure(endpoint.id)
            reason = (
                f"disabled after {failures} deliveries in a row failed (each retried for a day)"
            )
            limit = self.settings.WEBHOOK_DISABLE_AFTER_FAILURES
            if failures >= limit and await endpoints.disable(endpoint.id, reason):
                record_event(
                    session,
                    "webhook_endpoint.disabled",
                    business_id=endpoint.business_id,
                    subject_type="webhook_endpoint",
                    subject_id=endpoint.id,
                    payload={"url": endpoint.url, "failures": failures},
                )
            await session.commit()
            return FAILED
