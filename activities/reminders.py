"""Reminder bookkeeping activities: who to send to, skipped occurrences, the row's state."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.delivery import get_or_create_delivery, mark_skipped
from core.enums import DeliveryStatus
from core.models import Business, Reminder
from core.repositories.reminders import ReminderRepository
from workflows.contracts import SkipRequest, SyncRequest, Target, Targets, TargetsRequest


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class ReminderActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def _targets(self, session: AsyncSession, reminder: Reminder) -> list[Target]:
        business = await session.get(Business, reminder.business_id)
        assert business is not None
        targets: list[Target] = []
        for client in await ReminderRepository(session).target_clients(reminder):
            # The reminder's channels, else the client's preferred, else the business's.
            channels = reminder.channels or client.preferred_channels or business.default_channels
            targets.extend(Target(client_id=str(client.id), channel=c) for c in channels)
        return targets

    @activity.defn(name="resolve_targets")
    async def resolve_targets(self, request: TargetsRequest) -> Targets:
        async with self.sessionmaker() as session:
            reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
            if reminder is None:
                return Targets(exists=False)
            return Targets(exists=True, targets=await self._targets(session, reminder))

    @activity.defn(name="record_skipped")
    async def record_skipped(self, request: SkipRequest) -> int:
        """Write a `skipped` delivery for every target of an occurrence that did not fire."""
        async with self.sessionmaker() as session:
            reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
            if reminder is None:
                return 0
            reason = {
                "paused": "the reminder was paused when this occurrence was due",
                "missed": "noticed after the late-firing grace period; not sent",
            }.get(request.reason, request.reason)
            targets = await self._targets(session, reminder)
            for target in targets:
                delivery = await get_or_create_delivery(
                    session,
                    reminder,
                    uuid.UUID(target.client_id),
                    target.channel,
                    request.occurrence_key,
                    datetime.fromisoformat(request.scheduled_for),
                )
                if delivery.status == DeliveryStatus.pending:
                    mark_skipped(delivery, request.reason, reason)
            await session.commit()
            return len(targets)

    @activity.defn(name="sync_reminder")
    async def sync_reminder(self, request: SyncRequest) -> None:
        async with self.sessionmaker() as session:
            reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
            if reminder is None:
                return
            reminder.status = request.state
            reminder.next_fire_at = _parse(request.next_fire_at)
            reminder.occurrences_sent = request.occurrences_sent
            reminder.last_fired_at = _parse(request.last_fired_at)
            await session.commit()
