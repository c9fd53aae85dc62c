"""Email through the business's own SMTP server: the email configuration the message names
(the reminder's, else its sender identity's), else the business's default one, else the
platform's provider (SMTP_* settings, or the sandbox). A named configuration is looked up
only within the delivery's business; one deleted since falls back to the default.

The configuration is looked up by the delivery being sent and its password decrypted here,
inside the activity, for this one send: workflow inputs and Temporal's history only ever
carry ids. A configuration's login being refused fails the delivery at once (`smtp_auth`):
retrying cannot fix a business's wrong password, and the owner sees it on the delivery.

The server is the tenant's choice, so it is connected to only at a public address on an
SMTP port (core/network.py, checked after resolving its name), and what a failure records
is what happened and the SMTP code, never the server's own words.
"""

from __future__ import annotations

import ssl
import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.business_accounts import open_secret, reading, send_as_business
from channels.providers import OutgoingMessage, Provider, ProviderResult
from channels.smtp import SmtpProvider
from core.models import Delivery, EmailConfiguration
from core.network import DestinationPolicy
from core.settings import Settings

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
        owner = f"email configuration {config.name!r}"
        password = (
            open_secret(self.settings, config.password_encrypted, owner)
            if config.password_encrypted
            else None
        )
        provider = SmtpProvider(
            settings_for(self.settings, config, password),
            self.tls_context,
            destination=DestinationPolicy.for_smtp(self.settings),
        )
        # The business's server authenticates its own address: that is the From.
        message = replace(
            message,
            from_email=config.from_email,
            from_name=config.from_name or message.from_name,
        )
        return await send_as_business(provider, message, PERMANENT_FOR_A_BUSINESS, owner)

    async def find(self, message: OutgoingMessage, since: datetime) -> list[ProviderResult] | None:
        return None  # an SMTP server, the business's or the platform's, cannot be asked

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
        async with reading(self.sessionmaker, "email configuration") as session:
            if named is not None:
                stmt = of_business.where(EmailConfiguration.id == uuid.UUID(named))
                config = (await session.scalars(stmt)).one_or_none()
                if config is not None:
                    return config
            stmt = of_business.where(EmailConfiguration.is_default.is_(True))
            return (await session.scalars(stmt)).one_or_none()
