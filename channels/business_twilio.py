"""SMS and WhatsApp through the business's own Twilio account when it has saved one, else
through the platform's provider (TWILIO_* settings, or the sandbox).

Like `channels.business_email`: the credentials are looked up by the delivery being sent
and the auth token decrypted here, for this one send; workflow inputs and Temporal's history
only carry ids. The platform's own numbers (TWILIO_FROM_NUMBER, TWILIO_WHATSAPP_FROM,
TWILIO_MESSAGING_SERVICE_SID) belong to the platform's account and are never used with a
business's: its sender identity, else its own messaging service, sends. Twilio refusing the
business's credentials fails the delivery at once (`twilio_auth`): retrying cannot fix a
business's wrong token, and the owner sees it on the delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.business_accounts import open_secret, reading, send_as_business
from channels.providers import OutgoingMessage, Provider, ProviderResult
from channels.twilio_messages import TwilioProvider
from core.models import Delivery, TwilioCredentials
from core.settings import Settings


def settings_for(settings: Settings, credentials: TwilioCredentials, token: str) -> Settings:
    """The platform's settings with TWILIO_* replaced by the business's (in memory only)."""
    return settings.model_copy(
        update={
            "TWILIO_ACCOUNT_SID": credentials.account_sid,
            "TWILIO_AUTH_TOKEN": token,
            "TWILIO_MESSAGING_SERVICE_SID": credentials.messaging_service_sid,
            "TWILIO_FROM_NUMBER": None,
            "TWILIO_WHATSAPP_FROM": None,
        }
    )


class BusinessTwilioProvider:
    """Chooses, per message, the business's own Twilio account or the platform provider."""

    def __init__(
        self,
        platform: Provider,
        channel: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.platform = platform
        self.name = platform.name
        self.channel = channel
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        credentials = await self._credentials(message.delivery_id)
        if credentials is None:
            return await self.platform.send(message)
        return await send_as_business(
            self._own(credentials),
            message,
            {"twilio_auth"},
            f"Twilio refused the business's account {credentials.account_sid}",
        )

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        """Asks the account the message would go through now (a business that changed
        accounts since the crash is asked on its new one: what its old one sent is not
        found, and the message goes out again)."""
        credentials = await self._credentials(message.delivery_id)
        if credentials is None:
            return await self.platform.find(message, since)
        provider = self._own(credentials)
        try:
            return await provider.find(message, since)
        finally:
            await provider.close()

    def _own(self, credentials: TwilioCredentials) -> TwilioProvider:
        """A provider for this one business's account (its token opened for this use)."""
        token = open_secret(
            self.settings, credentials.auth_token_encrypted, "the business's Twilio credentials"
        )
        return TwilioProvider(settings_for(self.settings, credentials, token), self.channel)

    async def close(self) -> None:
        await self.platform.close()

    async def _credentials(self, delivery_id: str) -> TwilioCredentials | None:
        stmt = (
            select(TwilioCredentials)
            .join(Delivery, Delivery.business_id == TwilioCredentials.business_id)
            .where(Delivery.id == uuid.UUID(delivery_id))
        )
        async with reading(self.sessionmaker, "Twilio credentials") as session:
            return (await session.scalars(stmt)).one_or_none()
