from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.enums import DeliveryStatus, ReminderStatus
from core.models import Business, Client, ClientTag, Delivery, Reminder, SenderIdentity, Template
from core.repositories.base import Keyset, Total, paginate

# States a reminder never leaves.
ENDED = (ReminderStatus.completed.value, ReminderStatus.cancelled.value)
ACTIVE = (ReminderStatus.scheduled.value, ReminderStatus.paused.value)

# What a send needs, read in one statement (and the client's tags in a second):
# (reminder, business, client, template, default sender identity for the channel).
SendRows = tuple[Reminder, Business, Client | None, Template | None, SenderIdentity | None]


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, reminder_id: uuid.UUID) -> Reminder | None:
        return await self.session.get(Reminder, reminder_id)

    async def get_for_business(
        self, business_id: uuid.UUID, reminder_id: uuid.UUID
    ) -> Reminder | None:
        stmt = select(Reminder).where(
            Reminder.id == reminder_id, Reminder.business_id == business_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_idempotency_key(self, business_id: uuid.UUID, key: str) -> Reminder | None:
        stmt = select(Reminder).where(
            Reminder.business_id == business_id, Reminder.idempotency_key == key
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list_page(
        self,
        business_id: uuid.UUID,
        *,
        status: str | None,
        type: str | None,
        client_id: uuid.UUID | None,
        tag: str | None,
        limit: int,
        offset: int,
        after: Keyset | None = None,
    ) -> tuple[list[Reminder], Total]:
        stmt = select(Reminder).where(Reminder.business_id == business_id)
        if status is not None:
            stmt = stmt.where(Reminder.status == status)
        if type is not None:
            stmt = stmt.where(Reminder.type == type)
        if tag is not None:
            stmt = stmt.where(Reminder.tag == tag)
        if client_id is not None:
            # client_ids is a JSON list of id strings on both SQLite and PostgreSQL; a
            # quoted uuid (hex and dashes only) cannot match anything but a whole element.
            stmt = stmt.where(cast(Reminder.client_ids, String).like(f'%"{client_id}"%'))
        stmt = stmt.order_by(Reminder.created_at.desc(), Reminder.id.desc())
        return await paginate(self.session, stmt, limit, offset, after, Reminder)

    async def clients_of_business(
        self, business_id: uuid.UUID, client_ids: Iterable[uuid.UUID]
    ) -> list[Client]:
        """Those of `client_ids` that are clients of the business (others are left out)."""
        ids = list(set(client_ids))
        if not ids:
            return []
        stmt = select(Client).where(Client.business_id == business_id, Client.id.in_(ids))
        return list((await self.session.scalars(stmt)).all())

    async def client_names(
        self, business_id: uuid.UUID, client_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        ids = list(set(client_ids))
        if not ids:
            return {}
        stmt = select(Client.id, Client.name).where(
            Client.business_id == business_id, Client.id.in_(ids)
        )
        return {row.id: row.name for row in (await self.session.execute(stmt)).all()}

    async def add(self, reminder: Reminder) -> Reminder:
        self.session.add(reminder)
        await self.session.flush()
        return reminder

    async def set_state(
        self,
        reminder_id: uuid.UUID,
        status: str,
        next_fire_at: datetime | None,
        occurrences_sent: int,
        last_fired_at: datetime | None,
        last_occurrence: str | None = None,
    ) -> None:
        """The workflow's state on its row, in one statement; a row already in that state
        (or gone) is left as it is, `updated_at` included. A run recorded before the
        workflow carried `last_occurrence` sends none: the stored one stays. A row the API
        has ended (completed, cancelled) never goes back: a sync the workflow sent before
        it took that signal can land after the API's commit, and would otherwise show a
        cancelled reminder as scheduled (and accept a resend) until the next sync."""
        state = {
            Reminder.status: status,
            Reminder.next_fire_at: next_fire_at,
            Reminder.occurrences_sent: occurrences_sent,
            Reminder.last_fired_at: last_fired_at,
        }
        if last_occurrence is not None:
            state[Reminder.last_occurrence] = last_occurrence
        changed = or_(
            *(
                column.is_distinct_from(literal(value, column.type))
                for column, value in state.items()
            )
        )
        await self.session.execute(
            update(Reminder)
            .where(
                Reminder.id == reminder_id,
                changed,
                or_(Reminder.status.not_in(ENDED), Reminder.status == status),
            )
            .values({column.key: value for column, value in state.items()})
            .execution_options(synchronize_session=False)
        )

    async def active_batch(
        self, after: uuid.UUID | None, created_before: datetime, limit: int
    ) -> list[Reminder]:
        """Scheduled or paused reminders created before `created_before`, by id after
        `after` (reconcile's keyset walk over the table)."""
        stmt = (
            select(Reminder)
            .where(Reminder.status.in_(ACTIVE), Reminder.created_at <= created_before)
            .order_by(Reminder.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(Reminder.id > after)
        return list(await self.session.scalars(stmt))

    async def end_if_active(self, reminder_id: uuid.UUID, status: str, now: datetime) -> bool:
        """Give an active reminder its final status; False when it is no longer active
        (the API changed it since it was read, and wins)."""
        stmt = (
            update(Reminder)
            .where(Reminder.id == reminder_id, Reminder.status.in_(ACTIVE))
            .values(status=status, next_fire_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def target_clients(
        self, reminder: Reminder, *, include_inactive: bool = False
    ) -> list[Client]:
        """The reminder's clients as they are now: its list, or everyone with its tag;
        inactive clients are nobody's target (unless `include_inactive`)."""
        stmt = select(Client).where(Client.business_id == reminder.business_id)
        if not include_inactive:
            stmt = stmt.where(Client.is_active.is_(True))
        if reminder.tag:
            stmt = stmt.join(ClientTag, ClientTag.client_id == Client.id).where(
                ClientTag.tag == reminder.tag
            )
        else:
            ids = [uuid.UUID(value) for value in reminder.client_ids]
            if not ids:
                return []
            stmt = stmt.where(Client.id.in_(ids))
        stmt = stmt.options(selectinload(Client.tag_rows)).order_by(Client.name, Client.id)
        return list((await self.session.scalars(stmt)).unique().all())

    async def active_for_business(self, business_id: uuid.UUID) -> list[Reminder]:
        """The business's scheduled and paused reminders, oldest first."""
        stmt = (
            select(Reminder)
            .where(Reminder.business_id == business_id, Reminder.status.in_(ACTIVE))
            .order_by(Reminder.created_at, Reminder.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def targets_of(
        self, business_id: uuid.UUID, reminders: Iterable[Reminder]
    ) -> dict[uuid.UUID, list[Client]]:
        """`target_clients` of many reminders of one business, in two statements (the
        clients any of them names or tags, then their tags), whatever their number."""
        wanted = list(reminders)
        ids = {uuid.UUID(value) for r in wanted if not r.tag for value in r.client_ids}
        tags = {r.tag for r in wanted if r.tag}
        found: list[Client] = []
        if ids or tags:
            tagged = select(ClientTag.client_id).where(
                ClientTag.business_id == business_id, ClientTag.tag.in_(tags)
            )
            stmt = (
                select(Client)
                .where(Client.business_id == business_id, Client.is_active.is_(True))
                .where(or_(Client.id.in_(ids), Client.id.in_(tagged)))
                .options(selectinload(Client.tag_rows))
                .order_by(Client.name, Client.id)
            )
            found = list((await self.session.scalars(stmt)).unique().all())
        targets: dict[uuid.UUID, list[Client]] = {}
        for reminder in wanted:
            if reminder.tag:
                targets[reminder.id] = [c for c in found if reminder.tag in c.tags]
            else:
                named = set(reminder.client_ids)
                targets[reminder.id] = [c for c in found if str(c.id) in named]
        return targets


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def send_rows(
        self, reminder_id: uuid.UUID, client_id: uuid.UUID, channel: str
    ) -> SendRows | None:
        """The rows one send reads; None when the reminder is gone. The client is None when
        it is gone or belongs to another business."""
        stmt = (
            select(Reminder, Business, Client, Template, SenderIdentity)
            .join(Business, Business.id == Reminder.business_id)
            .outerjoin(
                Client, and_(Client.id == client_id, Client.business_id == Reminder.business_id)
            )
            .outerjoin(Template, Template.id == Reminder.template_id)
            .outerjoin(
                SenderIdentity,
                and_(
                    SenderIdentity.business_id == Reminder.business_id,
                    SenderIdentity.channel == channel,
                    SenderIdentity.is_default.is_(True),
                ),
            )
            .where(Reminder.id == reminder_id)
            .options(selectinload(Client.tag_rows))
        )
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            return None
        reminder, business, client, template, sender = row
        return reminder, business, client, template, sender

    async def record_sent(
        self,
        delivery_id: uuid.UUID,
        status: str,
        message_id: str,
        segments: int | None,
        now: datetime,
    ) -> Any:
        """Record the provider's acceptance and clear the send's claim, in one statement;
        the row's (id, status, provider_message_id, error_code, error_message, and what a
        webhook event says of it) after it.
        A status callback may have come first and said more ("delivered", or "failed" with
        the carrier's code): that is kept."""
        pending = Delivery.status == DeliveryStatus.pending.value
        at = literal(now, Delivery.sent_at.type)
        stmt = (
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=case((pending, status), else_=Delivery.status),
                error_code=case((pending, None), else_=Delivery.error_code),
                error_message=case((pending, None), else_=Delivery.error_message),
                provider_message_id=message_id,
                segments=segments,
                sent_at=func.coalesce(Delivery.sent_at, at),
                delivered_at=(
                    func.coalesce(Delivery.delivered_at, at)
                    if status == DeliveryStatus.delivered.value
                    else Delivery.delivered_at
                ),
                send_started_at=None,
            )
            .returning(
                Delivery.id,
                Delivery.status,
                Delivery.provider_message_id,
                Delivery.error_code,
                Delivery.error_message,
                Delivery.business_id,
                Delivery.reminder_id,
                Delivery.client_id,
                Delivery.channel,
            )
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).one()

    async def find(
        self, reminder_id: uuid.UUID, occurrence_key: str, client_id: uuid.UUID, channel: str
    ) -> Delivery | None:
        stmt = select(Delivery).where(
            Delivery.reminder_id == reminder_id,
            Delivery.occurrence_key == occurrence_key,
            Delivery.client_id == client_id,
            Delivery.channel == channel,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        return await self.session.get(Delivery, delivery_id)

    async def get_for_business(
        self, business_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery | None:
        stmt = select(Delivery).where(
            Delivery.id == delivery_id, Delivery.business_id == business_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def channels_tried(self, original: Delivery) -> set[str]:
        """The channels the original delivery's occurrence and its resends used for its
        client."""
        stmt = select(Delivery.channel).where(
            Delivery.reminder_id == original.reminder_id,
            Delivery.client_id == original.client_id,
            or_(
                Delivery.occurrence_key == original.occurrence_key,
                Delivery.resend_of == original.id,
            ),
        )
        return set((await self.session.scalars(stmt)).all())

    async def list_for_business(
        self,
        business_id: uuid.UUID,
        *,
        status: str | None = None,
        channel: str | None = None,
        client_id: uuid.UUID | None = None,
        reminder_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        offset: int,
        after: Keyset | None = None,
    ) -> tuple[list[Delivery], Total]:
        """One page of the business's deliveries, newest first, and how many match; each
        filter that is None does not narrow."""
        stmt = select(Delivery).where(Delivery.business_id == business_id)
        for column, value in (
            (Delivery.status, status),
            (Delivery.channel, channel),
            (Delivery.client_id, client_id),
            (Delivery.reminder_id, reminder_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(Delivery.created_at >= since)
        if until is not None:
            stmt = stmt.where(Delivery.created_at < until)
        stmt = stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc())
        return await paginate(self.session, stmt, limit, offset, after, Delivery)

    async def list_for_reminder(
        self, reminder_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[Delivery], int]:
        stmt = (
            select(Delivery)
            .where(Delivery.reminder_id == reminder_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        )
        return await paginate(self.session, stmt, limit, offset)
