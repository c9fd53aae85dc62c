"""What the dashboard's pages show and do, over the API's own services and repositories.

Reads are scoped like the API: a business's pages read only its rows; `None` (a
superuser's view of every business) is accepted only where a page says so. A change goes
through the service the REST call uses and is committed here, once, at its end.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client as TemporalClient

from api.auth.service import authenticate_throttled, reset_password
from api.deps import Actor
from api.reminders import service as reminders
from api.throttle import Throttle
from core.models import Business, Client, Reminder, User
from core.repositories import web as pages
from core.repositories.base import Total
from core.repositories.reminders import ReminderRepository
from core.repositories.users import BusinessRepository
from core.repositories.web import BusinessRow, DeliveryRow
from core.security import PasswordHasher
from core.settings import Settings

# -- signing in -------------------------------------------------------------------------


async def sign_in(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    email: str,
    password: str,
    ip: str | None,
) -> User:
    """The user with this email and password, their sign-in committed (a refusal is
    recorded and committed by the API's auth service, then raised)."""
    user = await authenticate_throttled(session, throttle, passwords, email, password, ip)
    await session.commit()
    return user


async def choose_password(
    session: AsyncSession,
    passwords: PasswordHasher,
    token: str,
    password: str,
    settings: Settings,
    ip: str | None,
) -> None:
    """Set a new password with a reset code (as `POST /auth/reset-password`, which commits)."""
    await reset_password(session, passwords, token, password, settings, ip)


async def get_business(session: AsyncSession, business_id: uuid.UUID) -> Business | None:
    return await BusinessRepository(session).get(business_id)


# -- reminders --------------------------------------------------------------------------


async def reminder_in_scope(
    session: AsyncSession, business_id: uuid.UUID | None, reminder_id: uuid.UUID
) -> Reminder | None:
    """The reminder, if it is the business's (any business's for None)."""
    repository = ReminderRepository(session)
    if business_id is None:
        return await repository.get(reminder_id)
    return await repository.get_for_business(business_id, reminder_id)


async def business_of(
    session: AsyncSession, in_scope: Business | None, reminder: Reminder
) -> Business | None:
    """The reminder's business: the one in scope, else (all businesses) read."""
    if in_scope is not None:
        return in_scope
    return await BusinessRepository(session).get(reminder.business_id)


async def act_on_reminder(
    session: AsyncSession, actor: Actor, reminder: Reminder, action: str, temporal: TemporalClient
) -> None:
    """`trigger`, `pause` or `resume` through the API's reminders service, which signals
    the workflow first, then commits the new state and its audit event."""
    if action == "trigger":
        await reminders.trigger(session, actor, reminder, temporal)
    else:
        await reminders.change_state(session, actor, reminder, action, temporal)


async def reminders_page(
    session: AsyncSession,
    business_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Reminder, str]], Total]:
    """Reminders newest first, with their business's name."""
    return await pages.reminders_page(session, business_id, status, limit, offset)


async def reminder_deliveries(
    session: AsyncSession, reminder: Reminder, limit: int
) -> tuple[list[DeliveryRow], Total]:
    return await pages.reminder_deliveries(session, reminder.business_id, reminder.id, limit)


# -- other lists ------------------------------------------------------------------------


async def failed_deliveries(
    session: AsyncSession, business_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[DeliveryRow], Total]:
    """Failed and undelivered deliveries, newest first, with who and what they were for."""
    return await pages.failed_deliveries(session, business_id, limit, offset)


async def clients_page(
    session: AsyncSession, business_id: uuid.UUID | None, search: str, limit: int, offset: int
) -> tuple[list[tuple[Client, str]], Total]:
    """Clients by name, with their business's name; `search` as in the API's list."""
    return await pages.clients_page(session, business_id, search, limit, offset)


async def business_rows(session: AsyncSession) -> list[BusinessRow]:
    """Every business with its clients, active reminders, deliveries and failures."""
    return await pages.business_rows(session)
