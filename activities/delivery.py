"""Delivery bookkeeping shared by the channel activities: one row per (reminder, occurrence,
client, channel); a retried activity that finds its row settled returns it.

At most once, and nothing lost: the provider claims the row (`send_started_at`, committed)
right before its point of no return, and its answer clears the claim in the same commit
that records it. A retry that finds an earlier attempt's claim asks the provider whether
the message arrived and adopts it, or sends when it did not (activities/claims.py); only
when the provider cannot be asked (an SMTP server, whose reply to the message content was
lost) is the delivery recorded `failed` with `outcome_unknown` and never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.claims import (
    ClaimLost,
    OutcomeUnknown,
    claim,
    heartbeating,
    release,
    sent_by_earlier_attempt,
)
from activities.compose import Parts, compose, load_parts, period_of_send
from activities.rate_slots import wait_for_rate_slot
from activities.webhooks import start_emitted
from channels.providers import DeliveryFailure, OutgoingMessage, Provider
from core import webhook_events
from core.context import request_id_var
from core.enums import DeliveryStatus
from core.events import record_event
from core.models import Client, Delivery, Reminder
from core.ratelimit import RateLimiter
from core.repositories.reminders import DeliveryRepository
from core.settings import Settings
from core.templating import TemplateProblem
from core.types import utcnow
from core.unsubscribe import is_suppressed, set_opt_out
from workflows.contracts import (
    OUTCOME_UNKNOWN,
    PERMANENT_FAILURE,
    RETRYABLE_FAILURE,
    SendRequest,
    SendResult,
)

log = logging.getLogger(__name__)

FINAL = {DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.skipped}
FINAL |= {DeliveryStatus.failed, DeliveryStatus.undelivered}
# How often recording a provider's acceptance is tried before giving up on it.
RECORD_TRIES = 3

# A send's row, its client, and its message (None: settled without sending).
Prepared = tuple[Delivery, Client, OutgoingMessage | None]


def result_of(delivery: Delivery) -> SendResult:
    return SendResult(
        delivery_id=str(delivery.id),
        status=delivery.status,
        provider_message_id=delivery.provider_message_id,
        error_code=delivery.error_code,
        error_message=delivery.error_message,
    )


def new_delivery(
    reminder: Reminder,
    client_id: uuid.UUID,
    channel: str,
    key: str,
    scheduled_for: datetime,
    fallback_from: str | None = None,
    resend_of: str | None = None,
    period: str | None = None,
) -> Delivery:
    """A delivery row not inserted yet, its id already drawn (a send's message carries it)."""
    return Delivery(
        id=uuid.uuid4(),
        business_id=reminder.business_id,
        reminder_id=reminder.id,
        client_id=client_id,
        channel=channel,
        occurrence_key=key,
        status=DeliveryStatus.pending.value,
        attempts=0,
        scheduled_for=scheduled_for,
        fallback_from=fallback_from,
        resend_of=uuid.UUID(resend_of) if resend_of else None,
        period=period,
    )


async def get_or_create_delivery(
    session: AsyncSession,
    reminder: Reminder,
    client_id: uuid.UUID,
    channel: str,
    key: str,
    scheduled_for: datetime,
    fallback_from: str | None = None,
) -> Delivery:
    deliveries = DeliveryRepository(session)
    found = await deliveries.find(reminder.id, key, client_id, channel)
    if found is not None:
        return found
    delivery = new_delivery(reminder, client_id, channel, key, scheduled_for, fallback_from)
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

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        limiter: RateLimiter,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.limiter = limiter

    async def deliver(self, request: SendRequest, provider: Provider) -> SendResult:
        # This activity's logs carry the id of the API request that made the reminder.
        request_id_var.set(request.request_id)
        async with heartbeating(), self.sessionmaker() as session:
            prepared = await self._as_first_attempt(session, request)
            if prepared is None:  # an earlier attempt's row is there: it decides
                prepared = await self._as_retry(session, request, provider)
            if isinstance(prepared, SendResult):
                return prepared
            delivery, client, message = prepared
            await session.commit()
            if message is None:
                return result_of(delivery)
            await wait_for_rate_slot(session, delivery, self.settings, self.limiter)
            # The provider claims the send right before its point of no return.
            message.claim = partial(claim, session, delivery)
            return await self._send(session, delivery, client, message, provider)

    @staticmethod
    async def _parts(session: AsyncSession, request: SendRequest) -> Parts | SendResult:
        parts = await load_parts(session, request.reminder_id, request.client_id, request.channel)
        if isinstance(parts, str):  # nothing to send it to
            return SendResult(delivery_id="", status="skipped", error_code=parts)
        return parts

    async def _as_first_attempt(
        self, session: AsyncSession, request: SendRequest
    ) -> Prepared | SendResult | None:
        """The common case, in few statements: the row is inserted with its message (or
        why it is skipped). None when the row exists already; the session is rolled back."""
        parts = await self._parts(session, request)
        if isinstance(parts, SendResult):
            return parts
        request.period = await period_of_send(session, parts, request)
        delivery = new_delivery(
            parts.reminder,
            parts.client.id,
            request.channel,
            request.occurrence_key,
            datetime.fromisoformat(request.scheduled_for),
            request.fallback_from,
            request.resend_of,
            request.period,
        )
        suppressed = await is_suppressed(session, parts.client, request.channel)
        message = await self._prepare(delivery, parts, request, suppressed)
        session.add(delivery)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            return None
        return delivery, parts.client, message

    async def _as_retry(
        self, session: AsyncSession, request: SendRequest, provider: Provider
    ) -> Prepared | SendResult:
        """A retry: the row an earlier attempt left says what is still to do."""
        parts = await self._parts(session, request)
        if isinstance(parts, SendResult):
            return parts
        delivery = await DeliveryRepository(session).find(
            parts.reminder.id, request.occurrence_key, parts.client.id, request.channel
        )
        if delivery is None:  # removed since the insert failed: try again
            raise ApplicationError("the delivery row changed meanwhile", type=RETRYABLE_FAILURE)
        if delivery.status in FINAL:
            return result_of(delivery)  # settled by an earlier attempt
        if delivery.send_started_at is not None:
            settled = await self._settle_claim(session, delivery, parts, request, provider)
            if settled is not None:
                return settled
        suppressed = await is_suppressed(session, parts.client, request.channel)
        return delivery, parts.client, await self._prepare(delivery, parts, request, suppressed)

    async def _settle_claim(
        self,
        session: AsyncSession,
        delivery: Delivery,
        parts: Parts,
        request: SendRequest,
        provider: Provider,
    ) -> SendResult | None:
        """An earlier attempt claimed the send: its message adopted if the provider took
        it, `outcome_unknown` if the provider cannot say; None when the provider never got
        it (the claim released: this attempt sends)."""
        held_since = delivery.send_started_at
        assert held_since is not None
        if not parts.client.address_on(request.channel):
            return await self._outcome_unknown(session, delivery)
        try:
            message = await compose(
                parts,
                request.channel,
                str(delivery.id),
                datetime.fromisoformat(request.scheduled_for),
                utcnow(),
                self.settings,
                request.period,
            )
            found = await sent_by_earlier_attempt(
                session, delivery, message, provider, self.settings
            )
        except (OutcomeUnknown, TemplateProblem):
            return await self._outcome_unknown(session, delivery)
        except DeliveryFailure as failure:  # the provider could not be asked now
            raise ApplicationError(
                f"{failure.code}: {failure.message}", type=RETRYABLE_FAILURE
            ) from failure
        if found is None:
            await release(session, delivery, held_since)
            return None
        activity.logger.info(
            "delivery %s: an earlier attempt's message reached the provider (%s); adopted",
            delivery.id,
            found.provider_message_id,
        )
        return await self._record_sent(
            delivery.id, found.status, found.provider_message_id, found.segments
        )

    async def _prepare(
        self, delivery: Delivery, parts: Parts, request: SendRequest, suppressed: bool
    ) -> OutgoingMessage | None:
        """Decide whether to send, and what; None when the delivery is settled without it.
        `suppressed`: the client's address opted out itself (maybe on another record).
        The text renders on the render threads, so the worker's event loop goes on with
        other deliveries meanwhile."""
        client, channel = parts.client, request.channel
        if channel in (client.opted_out_channels or []):
            mark_skipped(delivery, "opted_out", f"client opted out of {channel}")
            return None
        if suppressed:
            mark_skipped(
                delivery, "opted_out", f"the client's {channel} address opted out of this business"
            )
            return None
        if not client.address_on(channel):
            mark_skipped(delivery, "no_address", f"client has no address for {channel}")
            return None
        try:
            message = await compose(
                parts,
                channel,
                str(delivery.id),
                datetime.fromisoformat(request.scheduled_for),
                utcnow(),
                self.settings,
                request.period,
            )
        except TemplateProblem as problem:
            delivery.status = DeliveryStatus.failed.value
            delivery.error_code = "template_error"
            delivery.error_message = str(problem)
            return None
        delivery.to_address = message.to
        delivery.subject = message.subject if channel == "email" else None
        delivery.body = message.body
        return message

    async def _outcome_unknown(self, session: AsyncSession, delivery: Delivery) -> SendResult:
        delivery.status = DeliveryStatus.failed.value
        delivery.error_code = OUTCOME_UNKNOWN
        delivery.error_message = (
            "an earlier attempt handed the message to the provider and stopped before its "
            "answer was recorded, and the provider cannot be asked whether it took it (an "
            "SMTP server); not sent again so the client cannot get it twice"
            + (f" (last error: {delivery.error_message})" if delivery.error_message else "")
        )[:2000]
        await session.commit()
        activity.logger.warning("delivery %s: outcome unknown, not resent", delivery.id)
        return result_of(delivery)

    async def _send(
        self,
        session: AsyncSession,
        delivery: Delivery,
        client: Client,
        message: OutgoingMessage,
        provider: Provider,
    ) -> SendResult:
        try:
            sent = await provider.send(message)
        except ClaimLost as lost:  # another attempt owns the send: it decides, not this one
            raise ApplicationError(str(lost), type=RETRYABLE_FAILURE) from lost
        except DeliveryFailure as failure:
            await self._record_failure(session, delivery, client, failure)
            raise ApplicationError(
                f"{failure.code}: {failure.message}",
                {"code": failure.code, "delivery_id": str(delivery.id)},
                type=RETRYABLE_FAILURE if failure.retryable else PERMANENT_FAILURE,
                non_retryable=not failure.retryable,
                next_retry_delay=(
                    timedelta(seconds=failure.retry_after) if failure.retry_after else None
                ),
            ) from failure
        except BaseException as exc:
            # The message may have left: the claim stays, so no retry sends it again.
            delivery.error_message = f"{exc.__class__.__name__}: {exc}"[:1000]
            await _commit_quietly(session)
            raise
        for attempt in range(RECORD_TRIES):
            try:
                result = await self._record_sent(
                    delivery.id, sent.status, sent.provider_message_id, sent.segments
                )
                break
            except Exception:
                if attempt == RECORD_TRIES - 1:
                    raise  # the claim stays: the retry records outcome_unknown, never resends
                await asyncio.sleep(0.5 * (attempt + 1))
        activity.logger.info(
            "delivery %s %s via %s to client %s",
            delivery.id,
            sent.status,
            provider.name,
            delivery.client_id,
        )
        return result

    async def _record_sent(
        self, delivery_id: uuid.UUID, status: str, message_id: str, segments: int | None = None
    ) -> SendResult:
        # Its own session: a failed commit in the caller's must not poison this one.
        async with self.sessionmaker() as session:
            row = await DeliveryRepository(session).record_sent(
                delivery_id, status, message_id, segments, utcnow()
            )
            await _emit_sent(session, row)
            await session.commit()
        await start_emitted(session, self.settings)
        return result_of(row)  # the returned columns, named as the row's

    async def _record_failure(
        self, session: AsyncSession, delivery: Delivery, client: Client, failure: DeliveryFailure
    ) -> None:
        if delivery.send_started_at is None:
            delivery.attempts += 1  # refused before its point of no return: never claimed
        delivery.send_started_at = None  # the provider did not take it: a retry may send
        delivery.error_code = failure.code[:64]
        delivery.error_message = failure.message[:2000]
        if not failure.retryable:
            delivery.status = DeliveryStatus.failed.value
            record_event(
                session,
                "delivery.failed",
                business_id=delivery.business_id,
                subject_type="delivery",
                subject_id=delivery.id,
                payload={"channel": delivery.channel, "code": failure.code},
            )
            await webhook_events.emit(
                session,
                delivery.business_id,
                webhook_events.DELIVERY_FAILED,
                webhook_events.delivery_data(delivery),
            )
        if failure.opt_out:
            await set_opt_out(
                session,
                client,
                delivery.channel,
                opted_out=True,
                source=f"{delivery.channel}_error_{failure.code}",
            )
        await session.commit()
        await start_emitted(session, self.settings)


async def _emit_sent(session: AsyncSession, row: Any) -> None:
    """delivery.sent when the provider took the message (and delivered, when it also
    said so at once: the sandbox does, and a status callback may have come first)."""
    if row.status not in (DeliveryStatus.sent, DeliveryStatus.delivered):
        return
    data = webhook_events.delivery_data(row)
    await webhook_events.emit(session, row.business_id, webhook_events.DELIVERY_SENT, data)
    if row.status == DeliveryStatus.delivered:
        await webhook_events.emit(session, row.business_id, webhook_events.DELIVERY_DELIVERED, data)


async def _commit_quietly(session: AsyncSession) -> None:
    try:
        await session.commit()
    except Exception:  # the original error is the one that matters
        log.exception("could not record the error of a send whose outcome is unknown")
