"""Delivery bookkeeping shared by the channel activities: one row per (reminder, occurrence,
client, channel); a retried activity that finds its row already sent returns it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers import OutgoingMessage, Provider
from core.enums import DeliveryStatus
from core.messages import business_context, client_context, reminder_context, render_message
from core.models import Business, Client, Delivery, Reminder, Template
from core.repositories.reminders import DeliveryRepository
from core.templating import TemplateProblem
from core.types import utcnow
from workflows import schedule as schedules
from workflows.contracts import SendRequest, SendResult

FINAL = {DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.skipped}
FINAL |= {DeliveryStatus.failed, DeliveryStatus.undelivered}


def address_for(client: Client, channel: str) -> str | None:
    return {
        "email": client.email,
        "sms": client.phone,
        "whatsapp": client.whatsapp or client.phone,
    }[channel]


def result_of(delivery: Delivery) -> SendResult:
    return SendResult(
        delivery_id=str(delivery.id),
        status=delivery.status,
        provider_message_id=delivery.provider_message_id,
        error_code=delivery.error_code,
        error_message=delivery.error_message,
    )


async def get_or_create_delivery(
    session: AsyncSession,
    reminder: Reminder,
    client_id: uuid.UUID,
    channel: str,
    key: str,
    scheduled_for: datetime,
) -> Delivery:
    deliveries = DeliveryRepository(session)
    found = await deliveries.find(reminder.id, key, client_id, channel)
    if found is not None:
        return found
    delivery = Delivery(
        business_id=reminder.business_id,
        reminder_id=reminder.id,
        client_id=client_id,
        channel=channel,
        occurrence_key=key,
        status=DeliveryStatus.pending.value,
        scheduled_for=scheduled_for,
    )
    try:
        async with session.begin_nested():
            session.add(delivery)
    except IntegrityError:
        # Another attempt inserted it first: that row is the one.
        found = await deliveries.find(reminder.id, key, client_id, channel)
        assert found is not None
        return found
    return delivery


def mark_skipped(delivery: Delivery, code: str, message: str) -> None:
    delivery.status = DeliveryStatus.skipped.value
    delivery.error_code = code
    delivery.error_message = message


class DeliveryBook:
    """Everything a channel activity does around the provider call."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def deliver(self, request: SendRequest, provider: Provider) -> SendResult:
        async with self.sessionmaker() as session:
            loaded = await self._load(session, request)
            if isinstance(loaded, SendResult):
                return loaded
            reminder, client, business, template = loaded
            delivery = await get_or_create_delivery(
                session,
                reminder,
                client.id,
                request.channel,
                request.occurrence_key,
                datetime.fromisoformat(request.scheduled_for),
            )
            if delivery.status in FINAL:
                return result_of(delivery)  # already done by an earlier attempt
            message = self._prepare(delivery, reminder, client, business, template, request)
            await session.commit()
            if message is None:
                return result_of(delivery)
            return await self._send(session, delivery, message, provider)

    async def _load(
        self, session: AsyncSession, request: SendRequest
    ) -> SendResult | tuple[Reminder, Client, Business, Template | None]:
        reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
        if reminder is None:
            return SendResult(delivery_id="", status="skipped", error_code="reminder_deleted")
        client = await session.get(Client, uuid.UUID(request.client_id))
        if client is None or client.business_id != reminder.business_id:
            return SendResult(delivery_id="", status="skipped", error_code="client_deleted")
        business = await session.get(Business, reminder.business_id)
        assert business is not None
        template = (
            await session.get(Template, reminder.template_id) if reminder.template_id else None
        )
        await session.refresh(client, ["tag_rows"])
        return reminder, client, business, template

    def _prepare(
        self,
        delivery: Delivery,
        reminder: Reminder,
        client: Client,
        business: Business,
        template: Template | None,
        request: SendRequest,
    ) -> OutgoingMessage | None:
        """Decide whether to send, and what; None when the delivery is settled without it."""
        address = address_for(client, request.channel)
        if request.channel in (client.opted_out_channels or []):
            mark_skipped(delivery, "opted_out", f"client opted out of {request.channel}")
            return None
        if not address:
            mark_skipped(delivery, "no_address", f"client has no address for {request.channel}")
            return None
        context: dict[str, Any] = {
            "client": client_context(client, client.tags),
            "reminder": reminder_context(
                reminder,
                schedules.due_at(reminder.schedule),
                datetime.fromisoformat(request.scheduled_for),
            ),
            "business": business_context(business),
        }
        try:
            subject, body = render_message(reminder, template, context)
        except TemplateProblem as problem:
            delivery.status = DeliveryStatus.failed.value
            delivery.error_code = "template_error"
            delivery.error_message = str(problem)
            return None
        delivery.attempts += 1
        delivery.to_address = address
        delivery.subject = subject if request.channel == "email" else None
        delivery.body = body
        return OutgoingMessage(
            channel=request.channel,
            to=address,
            subject=subject,
            body=body,
            delivery_id=str(delivery.id),
        )

    async def _send(
        self,
        session: AsyncSession,
        delivery: Delivery,
        message: OutgoingMessage,
        provider: Provider,
    ) -> SendResult:
        try:
            sent = await provider.send(message)
        except ApplicationError as exc:
            delivery.error_code = exc.type
            delivery.error_message = str(exc)
            if exc.non_retryable:
                delivery.status = DeliveryStatus.failed.value
            await session.commit()
            raise
        except Exception as exc:
            delivery.error_code = exc.__class__.__name__
            delivery.error_message = str(exc)[:1000]
            await session.commit()
            raise
        now = utcnow()
        delivery.status = sent.status
        delivery.provider_message_id = sent.provider_message_id
        delivery.sent_at = now
        delivery.delivered_at = now if sent.status == DeliveryStatus.delivered else None
        delivery.error_code = None
        delivery.error_message = None
        await session.commit()
        activity.logger.info(
            "delivery %s %s via %s to client %s",
            delivery.id,
            sent.status,
            provider.name,
            delivery.client_id,
        )
        return result_of(delivery)
