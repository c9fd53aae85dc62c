"""Reminder bookkeeping activities: who to send to, skipped occurrences, the row's state."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.delivery import get_or_create_delivery, mark_skipped
from activities.webhooks import start_emitted
from channels import WINDOWED_CHANNELS, fallback_channels
from core import webhook_events
from core.enums import DeliveryStatus, ReminderStatus
from core.models import Business, Client, Reminder
from core.repositories.reminders import ENDED, ReminderRepository
from core.settings import Settings
from workflows.contracts import (
    RECORD_DEFERRAL,
    RECORD_SKIPPED,
    RESOLVE_TARGETS,
    SYNC_REMINDER,
    DeferRequest,
    SkipRequest,
    SyncRequest,
    Target,
    Targets,
    TargetsRequest,
)


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _target(client: Client, business: Business, channel: str) -> Target:
    target = Target(client_id=str(client.id), channel=channel)
    start, end = business.send_window_start, business.send_window_end
    if channel in WINDOWED_CHANNELS and start is not None and end is not None:
        target.window_start = start.isoformat(timespec="minutes")
        target.window_end = end.isoformat(timespec="minutes")
        target.timezone = client.timezone or business.timezone
    return target


class ReminderActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def _targets(self, session: AsyncSession, reminder: Reminder) -> list[Target]:
        business = await session.get(Business, reminder.business_id)
        assert business is not None
        targets: list[Target] = []
        for client in await ReminderRepository(session).target_clients(reminder):
            # The reminder's channels, else the client's preferred, else the business's.
            channels = reminder.channels or client.preferred_channels or business.default_channels
            spare = fallback_channels(client, business, channels) if reminder.fallback else []
            for channel in channels:
                target = _target(client, business, channel)
                target.fallbacks = [_target(client, business, other) for other in spare]
                targets.append(target)
        return targets

    @activity.defn(name=RESOLVE_TARGETS)
    async def resolve_targets(self, request: TargetsRequest) -> Targets:
        async with self.sessionmaker() as session:
            reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
            if reminder is None:
                return Targets(
                    exists=False, occurrence_key=request.occurrence_key, period=request.period
                )
            targets = await self._targets(session, reminder)
            return Targets(
                exists=True,
                targets=targets,
                occurrence_key=request.occurrence_key,
                escalate_after=reminder.escalate_after,
                period=request.period,
            )

    @activity.defn(name=RECORD_SKIPPED)
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

    @activity.defn(name=RECORD_DEFERRAL)
    async def record_deferral(self, request: DeferRequest) -> None:
        """A send held for the send window: its delivery row says until when (or, once the
        reminder stopped before the window opened, that it was skipped and why)."""
        async with self.sessionmaker() as session:
            reminder = await session.get(Reminder, uuid.UUID(request.reminder_id))
            if reminder is None:
                return
            delivery = await get_or_create_delivery(
                session,
                reminder,
                uuid.UUID(request.client_id),
                request.channel,
                request.occurrence_key,
                datetime.fromisoformat(request.scheduled_for),
                request.fallback_from,
            )
            if delivery.status == DeliveryStatus.pending:
                delivery.deferred_until = datetime.fromisoformat(request.until)
                if request.stopped:
                    whom = (
                        "the client was marked" if request.stopped == "done" else "the reminder was"
                    )
                    mark_skipped(
                        delivery,
                        request.stopped,
                        f"held for the send window, and {whom} {request.stopped} before it opened",
                    )
            await session.commit()

    @activity.defn(name=SYNC_REMINDER)
    async def sync_reminder(self, request: SyncRequest) -> SyncRequest:
        """Returns what it wrote: a local activity's marker in the history keeps its result
        but not its input, and the reminder's history page shows the state."""
        async with self.sessionmaker() as session:
            if request.state == ReminderStatus.completed:
                await self._emit_completed(session, uuid.UUID(request.reminder_id))
            await ReminderRepository(session).set_state(
                uuid.UUID(request.reminder_id),
                request.state,
                _parse(request.next_fire_at),
                request.occurrences_sent,
                _parse(request.last_fired_at),
                request.last_occurrence,
            )
            await session.commit()
        await start_emitted(session, self.settings)
        return request

    @staticmethod
    async def _emit_completed(session: AsyncSession, reminder_id: uuid.UUID) -> None:
        """reminder.completed, when this sync is what completes the row (the API's own
        `complete` sent it already)."""
        reminder = await session.get(Reminder, reminder_id, with_for_update=True)
        if reminder is None or reminder.status in ENDED:
            return
        await webhook_events.emit(
            session,
            reminder.business_id,
            webhook_events.REMINDER_COMPLETED,
            {"reminder_id": reminder.id, "source": "schedule"},
        )
