"""The `send_sms` activity. The provider behind it is chosen by settings."""

from __future__ import annotations

from temporalio import activity

from activities.delivery import DeliveryBook
from channels.providers import Provider
from workflows.contracts import SendRequest, SendResult


class SmsActivities:
    def __init__(self, book: DeliveryBook, provider: Provider) -> None:
        self.book = book
        self.provider = provider

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendRequest) -> SendResult:
        return await self.book.deliver(request, self.provider)
