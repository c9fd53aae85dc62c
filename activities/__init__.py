"""Activities: everything that touches the outside world, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.delivery import DeliveryBook
from activities.diagnostics import DiagnosticsActivities
from activities.email import EmailActivities
from activities.providers import Provider, SandboxProvider
from activities.reminders import ReminderActivities
from activities.sms import SmsActivities
from activities.whatsapp import WhatsAppActivities
from core.settings import Settings


def build_providers(settings: Settings) -> dict[str, Provider]:
    """The provider per channel. Only the sandbox exists until real delivery lands."""
    return {"email": SandboxProvider(), "sms": SandboxProvider(), "whatsapp": SandboxProvider()}


def build_activities(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: dict[str, Provider] | None = None,
) -> list[Callable[..., Any]]:
    """The bound activity methods the worker registers."""
    providers = providers or build_providers(settings)
    book = DeliveryBook(sessionmaker)
    reminders = ReminderActivities(sessionmaker)
    return [
        DiagnosticsActivities(sessionmaker).check_database,
        reminders.resolve_targets,
        reminders.record_skipped,
        reminders.sync_reminder,
        EmailActivities(book, providers["email"]).send_email,
        SmsActivities(book, providers["sms"]).send_sms,
        WhatsAppActivities(book, providers["whatsapp"]).send_whatsapp,
    ]
