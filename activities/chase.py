"""Escalation: a client has had a reminder's messages for a period without being done;
tell the staff member the reminder names (else whoever created it) by email, through the
platform's own email provider, and record it on the client's row for the period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from channels.providers import DeliveryFailure, OutgoingMessage, Provider
from core.models import Business, Client, Reminder, User
from core.progress_models import ClientProgress
from core.repositories.progress import DONE, ProgressRepository
from core.repositories.users import UserRepository
from core.settings import Settings
from core.types import utcnow
from workflows.contracts import (
    ESCALATE_CLIENT,
    PERMANENT_FAILURE,
    RETRYABLE_FAILURE,
    EscalateRequest,
)


@dataclass
class Escalation:
    reminder: Reminder
    client: Client
    business: Business
    staff: User
    row: ClientProgress


def escalation_text(found: Escalation, sends: int, base_url: str) -> tuple[str, str]:
    reminder, client = found.reminder, found.client
    subject = f"No answer from {client.name}: {reminder.title}"
    body = (
        f'{client.name} has had {sends} reminders of "{reminder.title}" for the period due '
        f"{found.row.period} and has not marked it done.\n\n"
        f"Who is still outstanding: {base_url.rstrip('/')}/admin/reminders/{reminder.id}\n"
    )
    return subject, body


class ChaseActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        email: Provider,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.email = email

    async def _load(self, session: AsyncSession, request: EscalateRequest) -> Escalation | None:
        reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
        client = await session.get(Client, uuid.UUID(request.client_id))
        if reminder is None or client is None or client.business_id != reminder.business_id:
            return None
        business = await session.get(Business, reminder.business_id)
        users = UserRepository(session)
        staff = None
        for user_id in (reminder.escalate_to_user_id, reminder.created_by_user_id):
            if user_id is not None and staff is None:
                staff = await users.member_user(reminder.business_id, user_id)
        if business is None or staff is None:
            return None
        row = await ProgressRepository(session).get_or_add(
            reminder.business_id, reminder.id, request.period, client.id
        )
        return Escalation(reminder, client, business, staff, row)

    @activity.defn(name=ESCALATE_CLIENT)
    async def escalate_client(self, request: EscalateRequest) -> bool:
        """True when the staff member was told (now or by an earlier attempt)."""
        async with self.sessionmaker() as session:
            found = await self._load(session, request)
            if found is None or found.row.state == DONE:
                return False  # nobody to tell, or the client answered meanwhile
            if found.row.escalated_at is not None:
                return True
            subject, body = escalation_text(found, request.sends, self.settings.PUBLIC_BASE_URL)
            message = OutgoingMessage(
                channel="email",
                to=found.staff.email,
                subject=subject,
                body=body,
                delivery_id=f"escalation-{found.row.id}",
                from_name=found.business.name,
            )
            try:
                await self.email.send(message)
            except DeliveryFailure as failure:
                kind = RETRYABLE_FAILURE if failure.retryable else PERMANENT_FAILURE
                raise ApplicationError(f"{failure.code}: {failure.message}", type=kind) from None
            found.row.escalated_at = utcnow()
            found.row.escalated_after = request.sends
            await session.commit()
            return True
