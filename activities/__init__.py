"""Activities: everything that touches the outside world, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.business_email import BusinessEmailProvider
from activities.business_twilio import BusinessTwilioProvider
from activities.delivery import DeliveryBook
from activities.diagnostics import DiagnosticsActivities
from activities.email import EmailActivities
from activities.providers import Provider, SandboxProvider
from activities.reminders import ReminderActivities
from activities.sms import SmsActivities
from activities.whatsapp import WhatsAppActivities
from core.ratelimit import RateLimiter, build_rate_limiter
from core.settings import EmailBackend, MessagingBackend, Settings


def build_provider(settings: Settings, channel: str) -> Provider:
    """The platform's provider for `channel`, as the *_BACKEND settings say (sandbox:
    nothing leaves)."""
    if channel == "email":
        if settings.EMAIL_BACKEND == EmailBackend.smtp:
            from activities.smtp import SmtpProvider

            return SmtpProvider(settings)
        return SandboxProvider()
    backend = settings.SMS_BACKEND if channel == "sms" else settings.WHATSAPP_BACKEND
    if backend == MessagingBackend.twilio:
        from activities.twilio_messages import TwilioProvider

        return TwilioProvider(settings, channel)
    return SandboxProvider()


def build_providers(settings: Settings) -> dict[str, Provider]:
    """The provider per channel (see build_provider)."""
    return {channel: build_provider(settings, channel) for channel in ("email", "sms", "whatsapp")}


@dataclass
class Outbound:
    """What the send activities share for the life of a worker; closed when it stops."""

    providers: dict[str, Provider]
    limiter: RateLimiter

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        await self.limiter.close()


def build_outbound(
    settings: Settings,
    providers: dict[str, Provider] | None = None,
    limiter: RateLimiter | None = None,
) -> Outbound:
    return Outbound(
        providers=providers or build_providers(settings),
        limiter=limiter or build_rate_limiter(settings),
    )


def build_activities(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    outbound: Outbound,
) -> list[Callable[..., Any]]:
    """The bound activity methods the worker registers."""
    book = DeliveryBook(sessionmaker, settings, outbound.limiter)
    reminders = ReminderActivities(sessionmaker)
    providers = outbound.providers
    return [
        DiagnosticsActivities(sessionmaker).check_database,
        reminders.resolve_targets,
        reminders.record_skipped,
        reminders.record_deferral,
        reminders.sync_reminder,
        EmailActivities(
            book, BusinessEmailProvider(providers["email"], sessionmaker, settings)
        ).send_email,
        SmsActivities(
            book, BusinessTwilioProvider(providers["sms"], "sms", sessionmaker, settings)
        ).send_sms,
        WhatsAppActivities(
            book,
            BusinessTwilioProvider(providers["whatsapp"], "whatsapp", sessionmaker, settings),
        ).send_whatsapp,
    ]
