"""The `send_email` activity. The provider behind it is chosen by settings."""

from __future__ import annotations

from temporalio import activity

from activities.delivery import DeliveryBook
from channels.providers import Provider
from workflows.contracts import SendRequest, SendResult


class EmailActivities:
    def __init__(self, book: DeliveryBook, provider: Provider) -> None:
        self.book = book
        self.provider = provider

    @activity.defn(name="send_email")
    async def send_email(self, request: SendRequest) -> SendResult:
        return await self.book.deliver(request, self.provider)
