"""Email through the business's own SMTP server: the email configuration the message names
(the reminder's, else its sender identity's), else the business's default one, else the
platform's provider (SMTP_* settings, or the sandbox). A named configuration is looked up
only within the delivery's business; one deleted since falls back to the default.

The configuration is looked up by the delivery being sent and its password decrypted here,
inside the activity, for this one send: workflow inputs and Temporal's history only ever
carry ids. A configuration's login being refused fails the delivery at once (`smtp_auth`):
retrying cannot fix a business's wrong password, and the owner sees it on the delivery.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.providers import DeliveryFailure, OutgoingMessage, Provider, ProviderResult
from activities.smtp import SmtpProvider
from core.crypto import SecretUnreadable, secret_box
from core.models import Delivery, EmailConfiguration
from core.settings import Settings

log = logging.getLogger(__name__)

# Failures of a business's own credentials: no retry will fix them.
PERMANENT_FOR_A_BUSINESS = {"smtp_auth", "smtp_auth_unavailable"}


def settings_for(settings: Settings, config: EmailConfiguration, password: str | None) -> Settings:
    """The platform's settings with SMTP_* replaced by the configuration's (in memory only)."""
    return settings.model_copy(
        update={
            "SMTP_HOST": config.host,
            "SMTP_PORT": config.port,
            "SMTP_STARTTLS": config.security == "starttls",
            "SMTP_IMPLICIT_TLS": config.security == "tls",
            "SMTP_USERNAME": config.username,
            "SMTP_PASSWORD": password,
            "DEFAULT_FROM_EMAIL": config.from_email,
        }
    )


class BusinessEmailProvider:
    """Chooses, per message, the named or default configuration, or the platform provider."""

    def __init__(
        self,
        platform: Provider,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.platform = platform
        self.name = platform.name
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.tls_context = tls_context

    async def send(self, message: OutgoingMessage) -> ProviderResult:
        config = await self._configuration(message.delivery_id, message.email_configuration_id)
        if config is None:
            return await self.platform.send(message)
        try:
            password = (
                secret_box(self.settings).decrypt(config.password_encrypted)
                if config.password_encrypted
                else None
            )
        except SecretUnreadable as exc:
            raise DeliveryFailure(
                "secret_unreadable", f"email configuration {config.name!r}: {exc}", retryable=False
            ) from None
        provider = SmtpProvider(settings_for(self.settings, config, password), self.tls_context)
        # The business's server authenticates its own address: that is the From.
        message = replace(
            message,
            from_email=config.from_email,
            from_name=config.from_name or message.from_name,
        )
        try:
            return await provider.send(message)
        except DeliveryFailure as failure:
            if failure.code in PERMANENT_FOR_A_BUSINESS:
                raise DeliveryFailure(
                    failure.code,
                    f"email configuration {config.name!r}: {failure.message}",
                    retryable=False,
                ) from failure
            raise
        finally:
            await provider.close()

    async def close(self) -> None:
        await self.platform.close()

    async def _configuration(
        self, delivery_id: str, named: str | None
    ) -> EmailConfiguration | None:
        """The configuration `named`, if the delivery's business has it, else that business's
        default configuration, if any."""
        of_business = select(EmailConfiguration).join(
            Delivery, Delivery.business_id == EmailConfiguration.business_id
        )
        of_business = of_business.where(Delivery.id == uuid.UUID(delivery_id))
        try:
            async with self.sessionmaker() as session:
                if named is not None:
                    stmt = of_business.where(EmailConfiguration.id == uuid.UUID(named))
                    config = (await session.scalars(stmt)).one_or_none()
                    if config is not None:
                        return config
                stmt = of_business.where(EmailConfiguration.is_default.is_(True))
                return (await session.scalars(stmt)).one_or_none()
        except Exception as exc:
            # Nothing was sent: a retry may send (unlike an error from the provider itself).
            raise DeliveryFailure(
                "configuration_unavailable",
                f"could not read the business's email configuration: {exc.__class__.__name__}",
                retryable=True,
            ) from exc
