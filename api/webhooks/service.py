"""What Twilio's callbacks change: a delivery's status, and the clients an inbound message
(STOP, START, HELP; DONE in api/webhooks/done.py; anything else is a reply, stored by
api/replies) comes from. What the callbacks mean in
Twilio's terms (statuses, keywords, addresses, signatures) is channels/twilio_webhooks.py.

Both are retried by Twilio and may arrive out of order, so each is applied only when it
moves things forward: a replay or a late report changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from api.reminder_clients.service import TemporalGetter
from api.replies import service as replies
from api.webhooks import done, late_failure
from channels.twilio_webhooks import (
    DONE_WORDS,
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    TWILIO_UNSUBSCRIBED,
    InboundMessage,
    StatusReport,
    help_reply,
    keyword,
    parse_address,
)
from core import webhook_events
from core.enums import Channel, DeliveryStatus
from core.models import Delivery
from core.repositories.webhooks import WebhookRepository
from core.types import utcnow
from core.unsubscribe import set_opt_out
from core.webhook_events import delivery_data
from workflows.contracts import OUTCOME_UNKNOWN

log = logging.getLogger(__name__)

MAX_SID_LENGTH = 200  # deliveries.provider_message_id
MAX_ERROR_CODE_LENGTH = 64  # deliveries.error_code

# How far along a delivery is. A report applies only if it is further along; the final
# states are equal, so neither replaces the other.
_PROGRESS: dict[str, int] = {
    DeliveryStatus.pending: 0,
    DeliveryStatus.sent: 1,
    DeliveryStatus.delivered: 2,
    DeliveryStatus.undelivered: 2,
    DeliveryStatus.failed: 2,
}

StatusOutcome = Literal["updated", "unchanged", "unknown_message", "ignored"]


def _progress(delivery: Delivery) -> int | None:
    """None for a delivery no report may touch (skipped: it was never sent)."""
    if delivery.status == DeliveryStatus.failed and delivery.error_code == OUTCOME_UNKNOWN:
        return 0
    return _PROGRESS.get(delivery.status)


async def _find_delivery(
    rows: WebhookRepository, report: StatusReport, business_ids: frozenset[uuid.UUID] | None
) -> Delivery | None:
    """The delivery the report is about; only among `business_ids`' when those signed it."""
    # Locked, so two reports for one message (they come close together) apply in turn.
    delivery = await rows.lock_delivery_by_sid(report.message_sid, business_ids)
    if delivery is not None or report.delivery_id is None:
        return delivery
    delivery = await rows.lock_delivery(report.delivery_id)
    if delivery is None or (business_ids is not None and delivery.business_id not in business_ids):
        return None
    # A row that records another message (a later attempt) is not this report's.
    if delivery.provider_message_id not in (None, "", report.message_sid):
        return None
    return delivery


def _advance(delivery: Delivery, status: DeliveryStatus, report: StatusReport) -> None:
    now = utcnow()
    delivery.status = status
    if status in (DeliveryStatus.sent, DeliveryStatus.delivered):
        delivery.sent_at = delivery.sent_at or now
        # An "outcome unknown" (or a retried error) is answered: the message left.
        delivery.error_code = None
        delivery.error_message = None
    if status == DeliveryStatus.delivered:
        delivery.delivered_at = delivery.delivered_at or now
    if status in (DeliveryStatus.failed, DeliveryStatus.undelivered):
        code = report.error_code[:MAX_ERROR_CODE_LENGTH] if report.error_code else None
        delivery.error_code = code
        delivery.error_message = report.error_message or (
            f"Twilio reported the message {report.message_status}"
            + (f" (error {code})" if code else "")
        )


async def apply_status(
    session: AsyncSession,
    report: StatusReport,
    business_ids: frozenset[uuid.UUID] | None = None,
) -> StatusOutcome:
    """Record what Twilio says happened to a message, committed; never moves a delivery
    backwards. `business_ids`: the businesses whose own Twilio account sent the report
    (None: the platform's account, which may report on any delivery)."""
    outcome = await _apply_status(session, report, business_ids)
    await session.commit()
    return outcome


async def reported_delivery(
    session: AsyncSession, report: StatusReport, business_ids: frozenset[uuid.UUID] | None
) -> uuid.UUID | None:
    """The id of the delivery a status report is about (as apply_status finds it)."""
    delivery = await _find_delivery(WebhookRepository(session), report, business_ids)
    return delivery.id if delivery is not None else None


async def _apply_status(
    session: AsyncSession, report: StatusReport, business_ids: frozenset[uuid.UUID] | None
) -> StatusOutcome:
    status = report.status
    if status is None:
        return "ignored"
    if not report.message_sid or len(report.message_sid) > MAX_SID_LENGTH:
        return "unknown_message"
    rows = WebhookRepository(session)
    delivery = await _find_delivery(rows, report, business_ids)
    if delivery is None:
        return "unknown_message"
    current = _progress(delivery)
    if current is None or _PROGRESS[status] <= current:
        return "unchanged"
    delivery.provider_message_id = report.message_sid
    _advance(delivery, status, report)
    if delivery.status in late_failure.FAILED:
        await late_failure.mark_fallback(session, delivery)
    await _emit_status(session, delivery)
    if report.error_code == TWILIO_UNSUBSCRIBED and delivery.client_id is not None:
        client = await rows.lock_client(delivery.client_id)
        if client is not None:
            await set_opt_out(
                session, client, delivery.channel, opted_out=True, source="twilio_error_21610"
            )
    await session.flush()
    return "updated"


async def _emit_status(session: AsyncSession, delivery: Delivery) -> None:
    """The webhook event a reported status is, if any (`sent` was told when it was sent)."""
    kind = {
        DeliveryStatus.delivered: webhook_events.DELIVERY_DELIVERED,
        DeliveryStatus.failed: webhook_events.DELIVERY_FAILED,
        DeliveryStatus.undelivered: webhook_events.DELIVERY_FAILED,
    }.get(DeliveryStatus(delivery.status))
    if kind is not None:
        await webhook_events.emit(session, delivery.business_id, kind, delivery_data(delivery))


# --- inbound messages -------------------------------------------------------------------


async def _sender_businesses(
    rows: WebhookRepository, channel: Channel, message: InboundMessage, platform: frozenset[str]
) -> set[uuid.UUID]:
    """Businesses whose verified sender identity for the channel received the message.
    An unverified identity proves nothing (anyone may type any number), and the platform's
    own senders belong to no business: neither may narrow who a STOP reaches."""
    _, to_number = parse_address(message.to)
    service_sid = message.messaging_service_sid
    if (to_number and to_number in platform) or (service_sid and service_sid in platform):
        return set()
    return await rows.verified_sender_businesses(channel, to_number, service_sid)


@dataclass
class _Inbound:
    channel: Channel
    word: str | None
    client_ids: list[uuid.UUID]
    reply: str | None


async def handle_inbound(
    session: AsyncSession,
    message: InboundMessage,
    temporal: TemporalGetter,
    business_ids: frozenset[uuid.UUID] | None = None,
    platform_senders: frozenset[str] = frozenset(),
) -> str | None:
    """Apply an inbound message to the clients who sent it, committed; the reply text, if
    any. `business_ids`: the businesses whose own Twilio account received it (None: the
    platform's account); only their clients are touched."""
    inbound = await _handle_inbound(session, message, business_ids, platform_senders)
    await session.commit()
    if inbound.word in DONE_WORDS:
        # A step of its own, after the commit: what the message changed above (WhatsApp's
        # session) stands even when the DONE cannot be recorded now.
        return await done.complete_latest(
            session, temporal, inbound.channel, inbound.client_ids, message.body
        )
    return inbound.reply


async def _handle_inbound(
    session: AsyncSession,
    message: InboundMessage,
    business_ids: frozenset[uuid.UUID] | None,
    platform_senders: frozenset[str],
) -> _Inbound:
    channel, number = parse_address(message.from_)
    if not number:
        return _Inbound(channel, None, [], None)
    rows = WebhookRepository(session)
    senders = await _sender_businesses(rows, channel, message, platform_senders)
    if business_ids is not None:
        # A business's own account: its number is its own, whatever identities say.
        senders = (senders & business_ids) or set(business_ids)
    # No identity matched: the platform's shared number, which every business may send
    # from, so a STOP there is honoured for the number in every business.
    clients = await rows.lock_clients_with_number(channel, number, senders or None)
    word = keyword(message.body)
    now = utcnow()
    for client in clients:
        if channel == Channel.whatsapp:
            # The client wrote to us: free-form WhatsApp is allowed for 24 hours.
            client.whatsapp_session_at = now
        if word in OPT_OUT_WORDS or word in OPT_IN_WORDS:
            opted_out = word in OPT_OUT_WORDS
            changed = await set_opt_out(
                session, client, channel, opted_out=opted_out, source="inbound_keyword"
            )
            if changed:
                log.info(
                    "client %s opted %s of %s", client.id, "out" if opted_out else "in", channel
                )
    if word is None and clients:
        # Anything else a client writes is a reply for the business to read.
        await replies.record_replies(
            session, clients, channel, number, message.body, message.message_sid
        )
    await session.flush()
    client_ids = [client.id for client in clients]
    if word not in HELP_WORDS:
        return _Inbound(channel, word, client_ids, None)
    names = await rows.business_names(senders or {client.business_id for client in clients})
    return _Inbound(channel, word, client_ids, help_reply(names))
