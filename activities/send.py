"""The send activities: one implementation, registered once per channel under that
channel's name (`send_email`, `send_sms`, `send_whatsapp`: workflows/contracts.py), each
with the channel's provider (channels/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from activities.delivery import DeliveryBook
from channels.providers import Provider
from workflows.contracts import SendRequest, SendResult, send_activity

SendActivity = Callable[[SendRequest], Awaitable[SendResult]]


def send_activity_for(channel: str, book: DeliveryBook, provider: Provider) -> SendActivity:
    """The activity that sends `channel`'s messages through `provider`."""

    async def send(request: SendRequest) -> SendResult:
        return await book.deliver(request, provider)

    return activity.defn(name=send_activity(channel))(send)
