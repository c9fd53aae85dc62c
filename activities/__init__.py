"""Activities: everything that touches the outside world, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.chase import ChaseActivities
from activities.delivery import DeliveryBook
from activities.diagnostics import DiagnosticsActivities
from activities.reminders import ReminderActivities
from activities.send import send_activity_for
from activities.webhooks import WebhookActivities
from channels import ALL_CHANNELS, build_providers, business_provider
from channels.providers import Provider
from core.ratelimit import RateLimiter, build_rate_limiter
from core.settings import Settings


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
    reminders = ReminderActivities(sessionmaker, settings)
    providers = outbound.providers
    webhooks = WebhookActivities(sessionmaker, settings)
    return [
        webhooks.deliver_webhook,
        webhooks.give_up_webhook,
        DiagnosticsActivities(sessionmaker).check_database,
        reminders.resolve_targets,
        reminders.record_skipped,
        reminders.record_deferral,
        reminders.sync_reminder,
        ChaseActivities(sessionmaker, settings, providers["email"]).escalate_client,
        *(
            send_activity_for(
                channel,
                book,
                business_provider(channel, providers[channel], sessionmaker, settings),
            )
            for channel in ALL_CHANNELS
        ),
    ]
