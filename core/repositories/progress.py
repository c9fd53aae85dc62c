"""SQL of chasing each client until done: per-period client states, the sends each
client had in a period, the period a client's DONE text is about, escalations, and the
documents clients uploaded."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import DeliveryStatus
from core.models import Delivery
from core.progress_models import ClientDocument, ClientProgress

DONE, OUTSTANDING, OPTED_OUT = "done", "outstanding", "opted_out"
# Deliveries that reached the provider: what counts as a message the client had.
SENT_STATES = (DeliveryStatus.sent.value, DeliveryStatus.delivered.value)


class SentPeriod(NamedTuple):
    reminder_id: uuid.UUID
    client_id: uuid.UUID
    period: str


class ProgressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(
        self, reminder_id: uuid.UUID, period: str, client_id: uuid.UUID
    ) -> ClientProgress | None:
        stmt = select(ClientProgress).where(
            ClientProgress.reminder_id == reminder_id,
            ClientProgress.period == period,
            ClientProgress.client_id == client_id,
        )
        return (await self.session.scalars(stmt)).first()

    async def get_or_add(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID, period: str, client_id: uuid.UUID
    ) -> ClientProgress:
        """The client's row for the period, inserted (outstanding) when there is none."""
        found = await self.find(reminder_id, period, client_id)
        if found is not None:
            return found
        row = ClientProgress(
            business_id=business_id,
            reminder_id=reminder_id,
            period=period,
            client_id=client_id,
            state=OUTSTANDING,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:  # another request inserted it first
            found = await self.find(reminder_id, period, client_id)
            assert found is not None
            return found
        return row

    async def add_outstanding(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID, period: str, client_id: uuid.UUID
    ) -> ClientProgress:
        """A new outstanding row, inserted in the caller's transaction (no savepoint: it
        goes when the transaction is rolled back, on SQLite too); IntegrityError when
        another request inserted one first."""
        row = ClientProgress(
            business_id=business_id,
            reminder_id=reminder_id,
            period=period,
            client_id=client_id,
            state=OUTSTANDING,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def lock(self, row: ClientProgress) -> None:
        """Read the row afresh and hold it until the transaction ends (FOR UPDATE on
        PostgreSQL; SQLite allows one writer at a time anyway)."""
        await self.session.refresh(row, with_for_update=True)

    async def for_period(
        self, reminder_id: uuid.UUID, period: str
    ) -> dict[uuid.UUID, ClientProgress]:
        stmt = select(ClientProgress).where(
            ClientProgress.reminder_id == reminder_id, ClientProgress.period == period
        )
        return {row.client_id: row for row in (await self.session.scalars(stmt)).all()}

    async def sends(self, reminder_id: uuid.UUID, period: str) -> dict[uuid.UUID, int]:
        """Per client, the occurrences of the period that reached the provider."""
        stmt = (
            select(Delivery.client_id, func.count(distinct(Delivery.occurrence_key)))
            .where(
                Delivery.reminder_id == reminder_id,
                Delivery.period == period,
                Delivery.status.in_(SENT_STATES),
            )
            .group_by(Delivery.client_id)
        )
        return {client: n for client, n in (await self.session.execute(stmt)).all() if client}

    async def latest_sent_period(
        self, client_ids: Collection[uuid.UUID], channel: str
    ) -> SentPeriod | None:
        """The reminder, client and period of the latest message of a period that reached
        one of these clients on the channel: what a DONE from their number answers."""
        if not client_ids:
            return None
        stmt = (
            select(Delivery.reminder_id, Delivery.client_id, Delivery.period)
            .where(
                Delivery.client_id.in_(client_ids),
                Delivery.channel == channel,
                Delivery.period.is_not(None),
                Delivery.status.in_(SENT_STATES),
            )
            .order_by(
                func.coalesce(Delivery.sent_at, Delivery.created_at).desc(), Delivery.id.desc()
            )
            .limit(1)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None or row.client_id is None or row.period is None:
            return None
        return SentPeriod(row.reminder_id, row.client_id, row.period)

    async def periods(self, reminder_id: uuid.UUID, limit: int = 24) -> list[str]:
        """The periods that have had messages, newest first."""
        stmt = (
            select(Delivery.period)
            .where(Delivery.reminder_id == reminder_id, Delivery.period.is_not(None))
            .group_by(Delivery.period)
            .order_by(Delivery.period.desc())
            .limit(limit)
        )
        marked = (
            select(ClientProgress.period)
            .where(ClientProgress.reminder_id == reminder_id)
            .group_by(ClientProgress.period)
            .order_by(ClientProgress.period.desc())
            .limit(limit)
        )
        found = set((await self.session.scalars(stmt)).all())
        found |= set((await self.session.scalars(marked)).all())
        return sorted((period for period in found if period), reverse=True)[:limit]

    async def latest_period(self, reminder_id: uuid.UUID) -> str | None:
        periods = await self.periods(reminder_id, limit=1)
        return periods[0] if periods else None

    async def documents(
        self, reminder_id: uuid.UUID, period: str, client_ids: list[uuid.UUID] | None = None
    ) -> list[ClientDocument]:
        stmt = select(ClientDocument).where(
            ClientDocument.reminder_id == reminder_id, ClientDocument.period == period
        )
        if client_ids is not None:
            stmt = stmt.where(ClientDocument.client_id.in_(client_ids))
        return list((await self.session.scalars(stmt.order_by(ClientDocument.created_at))).all())

    async def document(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID, document_id: uuid.UUID
    ) -> ClientDocument | None:
        stmt = select(ClientDocument).where(
            ClientDocument.id == document_id,
            ClientDocument.business_id == business_id,
            ClientDocument.reminder_id == reminder_id,
        )
        return (await self.session.scalars(stmt)).first()

    def add_document(self, document: ClientDocument) -> None:
        self.session.add(document)

    async def current_periods(self, reminder_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Per reminder, its latest period with messages or marks (what `latest_period`
        answers for one), for many reminders in two grouped statements."""
        latest: dict[uuid.UUID, str] = {}
        if not reminder_ids:
            return latest
        sent = (
            select(Delivery.reminder_id, func.max(Delivery.period))
            .where(Delivery.reminder_id.in_(reminder_ids), Delivery.period.is_not(None))
            .group_by(Delivery.reminder_id)
        )
        marked = (
            select(ClientProgress.reminder_id, func.max(ClientProgress.period))
            .where(ClientProgress.reminder_id.in_(reminder_ids))
            .group_by(ClientProgress.reminder_id)
        )
        for stmt in (sent, marked):
            for reminder_id, period in (await self.session.execute(stmt)).all():
                if reminder_id is not None and period and period > latest.get(reminder_id, ""):
                    latest[reminder_id] = period
        return latest

    async def for_periods(
        self, periods: dict[uuid.UUID, str]
    ) -> dict[uuid.UUID, dict[uuid.UUID, ClientProgress]]:
        """`for_period` of many reminders, each for its own period, in one statement."""
        if not periods:
            return {}
        stmt = select(ClientProgress).where(
            ClientProgress.reminder_id.in_(list(periods)),
            ClientProgress.period.in_(set(periods.values())),
        )
        rows: dict[uuid.UUID, dict[uuid.UUID, ClientProgress]] = {}
        for row in (await self.session.scalars(stmt)).all():
            if periods.get(row.reminder_id) == row.period:
                rows.setdefault(row.reminder_id, {})[row.client_id] = row
        return rows


def mark_done(
    row: ClientProgress,
    source: str,
    at: datetime,
    by_user_id: uuid.UUID | None = None,
    note: str | None = None,
) -> bool:
    """Whether it changed: a client already done stays done as first recorded."""
    if row.state == DONE:
        return False
    row.state = DONE
    row.done_at = at
    row.done_source = source
    row.done_by_user_id = by_user_id
    row.note = note
    return True
