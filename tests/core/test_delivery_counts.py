"""The delivery counts ledger: the database keeps it equal to a COUNT over deliveries through
every kind of write (insert, status change by the ORM or by an UPDATE statement, a cascade
from a deleted reminder or business), and folding it changes no count."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Business, Delivery, DeliveryCount, Reminder
from core.repositories.delivery_counts import delivery_counts, fold
from core.types import utcnow
from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.conftest import Tenant
from worker import fold_delivery_counts


async def counted(session: AsyncSession, business_id: uuid.UUID | None) -> dict[Any, int]:
    """What the ledger must say: the deliveries counted one by one."""
    stmt = select(Delivery.channel, Delivery.status, func.count()).group_by(
        Delivery.channel, Delivery.status
    )
    if business_id is not None:
        stmt = stmt.where(Delivery.business_id == business_id)
    return {(channel, status): n for channel, status, n in await session.execute(stmt)}


async def ledger_rows(session: AsyncSession, business_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(DeliveryCount.business_id == business_id)
    return int(await session.scalar(stmt) or 0)


async def fill(app: Any, tenant: Tenant) -> str:
    reminder = await add_reminder_row(app, tenant)
    for status, channel in [("delivered", "email")] * 3 + [("pending", "sms"), ("sent", "sms")]:
        await add_delivery_row(
            app, tenant, reminder, status=status, channel=channel, created_at=utcnow()
        )
    return reminder


async def test_counts_follow_inserts_status_changes_and_cascades(
    app: Any, owner: Tenant, other_owner: Tenant
) -> None:
    business, other = uuid.UUID(owner.business_id), uuid.UUID(other_owner.business_id)
    reminder = await fill(app, owner)
    await fill(app, other_owner)
    async with app.state.sessionmaker() as session:
        assert await delivery_counts(session, business) == {
            ("email", "delivered"): 3,
            ("sms", "pending"): 1,
            ("sms", "sent"): 1,
        }
        # A status set on the object, and one set by an UPDATE statement.
        row = await session.scalar(
            select(Delivery).where(Delivery.business_id == business, Delivery.status == "pending")
        )
        assert row is not None
        row.status = "sent"
        await session.commit()
        await session.execute(
            update(Delivery)
            .where(Delivery.business_id == business, Delivery.channel == "sms")
            .values(status="failed")
        )
        # An update that leaves the status alone counts nothing.
        await session.execute(
            update(Delivery).where(Delivery.business_id == business).values(attempts=2)
        )
        await session.commit()
        assert await delivery_counts(session, business) == {
            ("email", "delivered"): 3,
            ("sms", "failed"): 2,
        }
        assert await delivery_counts(session, business) == await counted(session, business)
        # The other business's counts never moved.
        assert await delivery_counts(session, other) == await counted(session, other)
        assert (await delivery_counts(session, other))[("sms", "pending")] == 1

        await session.execute(delete(Reminder).where(Reminder.id == uuid.UUID(reminder)))
        await session.commit()
        assert await delivery_counts(session, business) == {}
        await session.execute(delete(Business).where(Business.id == other))
        await session.commit()
        assert await delivery_counts(session, other) == {}
        assert await delivery_counts(session, None) == await counted(session, None)


async def test_fold_keeps_every_count_and_shortens_the_ledger(app: Any, owner: Tenant) -> None:
    business = uuid.UUID(owner.business_id)
    await fill(app, owner)
    async with app.state.sessionmaker() as session:
        before, everyone = (
            await delivery_counts(session, business),
            await delivery_counts(session, None),
        )
        assert await ledger_rows(session, business) >= 5  # one row appended per insert
        assert await fold(session) > 0
        assert await ledger_rows(session, business) == 3  # one per (channel, status)
        assert await delivery_counts(session, business) == before
        assert await delivery_counts(session, None) == everyone
        assert await fold(session) == 0  # nothing left to fold


async def test_counts_stay_exact_while_deliveries_change_during_folds(
    app: Any, owner: Tenant
) -> None:
    """Folds running beside inserts and status changes lose and double nothing."""
    business = uuid.UUID(owner.business_id)
    reminder = await add_reminder_row(app, owner)

    async def write(n: int) -> None:
        for i in range(n):
            delivery = await add_delivery_row(
                app, owner, reminder, status="pending", created_at=utcnow()
            )
            if i % 2:
                async with app.state.sessionmaker() as session:
                    await session.execute(
                        update(Delivery)
                        .where(Delivery.id == uuid.UUID(delivery))
                        .values(status="sent")
                    )
                    await session.commit()

    async def folds(writing: asyncio.Future[Any]) -> int:
        times = 0
        while not writing.done():
            async with app.state.sessionmaker() as session:
                await fold(session, batch=7)
            times += 1
            await asyncio.sleep(0)
        return times

    writers = asyncio.gather(write(20), write(20))
    assert await folds(asyncio.ensure_future(writers)) > 1
    async with app.state.sessionmaker() as session:
        assert await delivery_counts(session, business) == {
            ("email", "pending"): 20,
            ("email", "sent"): 20,
        }
        assert await delivery_counts(session, None) == await counted(session, None)


async def test_the_worker_folds_the_ledger_until_stopped(app: Any, owner: Tenant) -> None:
    business = uuid.UUID(owner.business_id)
    await fill(app, owner)
    folding = asyncio.create_task(fold_delivery_counts(app.state.sessionmaker, every=0.05))
    try:
        async with asyncio.timeout(10):
            while True:
                async with app.state.sessionmaker() as session:
                    if await ledger_rows(session, business) == 3:
                        break
                await asyncio.sleep(0.05)
    finally:
        folding.cancel()


async def test_the_dashboard_counts_equal_the_notifications_totals(
    app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    await fill(app, owner)
    summary = await client.get("/api/v1/dashboard/summary", headers=owner.headers)
    assert summary.status_code == 200, summary.text
    for status, n in summary.json()["deliveries"]["by_status"].items():
        listed = await client.get(
            "/api/v1/notifications", headers=owner.headers, params={"status": status}
        )
        assert listed.json()["total"] == n, status
    assert summary.json()["deliveries"]["by_status"]["delivered"] == 3
