"""One business with one client on its own engine: the world the workflow tests, the
delivery tests and the history recorder start from (no HTTP, straight into the tables),
and the reminder rows, workflow inputs and delivery reads they share."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.models import Business, Delivery, Reminder
from core.models import Client as ClientRow
from workflows.contracts import ReminderInput, workflow_id_for
from workflows.schedule import validate_schedule

LONDON = "Europe/London"
BOB = {"name": "Bob Builder", "email": "bob@example.com", "phone": "+447911123456"}


@dataclass
class Seeded:
    sessionmaker: async_sessionmaker[AsyncSession]
    business_id: uuid.UUID
    client_id: uuid.UUID


@asynccontextmanager
async def seeded_business(
    database_url: str, name: str = "Acme", timezone: str = LONDON, *extra: Any
) -> AsyncIterator[Seeded]:
    """A business (`name`, `timezone`) with Bob as its client, plus any `extra` rows made
    by calling each with (business_id) -> row; the engine is disposed afterwards."""
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    business_id, client_id = uuid.uuid4(), uuid.uuid4()
    async with sessionmaker() as session:
        # Core inserts name only the columns they set (and their defaults): they also seed a
        # schema migrated to an earlier revision, before later columns existed
        # (tests/test_migrations.py); an ORM insert would name every column.
        business = insert(Business.__table__).values(id=business_id, name=name, timezone=timezone)
        await session.execute(business)
        await session.execute(
            insert(ClientRow.__table__).values(id=client_id, business_id=business_id, **BOB)
        )
        session.add_all([make(business_id) for make in extra])
        await session.commit()
    try:
        yield Seeded(sessionmaker, business_id, client_id)
    finally:
        await engine.dispose()


async def add_reminder(
    seed: Seeded,
    schedule: dict[str, Any],
    *,
    body: str,
    timezone: str = LONDON,
    channels: Sequence[str] = ("email",),
    **fields: Any,
) -> Reminder:
    """A reminder row for Bob (or `client_ids`), stored; its workflow is the caller's."""
    reminder_id = uuid.uuid4()
    values = dict(
        id=reminder_id,
        business_id=seed.business_id,
        title=fields.pop("title", "VAT return"),
        type=fields.pop("type", "deadline"),
        client_ids=fields.pop("client_ids", [str(seed.client_id)]),
        channels=list(channels),
        body=body,
        timezone=timezone,
        schedule=validate_schedule(schedule, timezone),
        workflow_id=workflow_id_for(str(reminder_id)),
        **fields,
    )
    # A Core insert names only these columns (and those with defaults), so it works on a
    # schema migrated to an earlier revision too.
    async with seed.sessionmaker() as session:
        await session.execute(insert(Reminder).values(values))
        await session.commit()
    return Reminder(**values)


def reminder_input(row: Reminder, **inputs: Any) -> ReminderInput:
    return ReminderInput(
        reminder_id=str(row.id),
        business_id=str(row.business_id),
        schedule=row.schedule,
        timezone=row.timezone,
        **inputs,
    )


async def deliveries_of(seed: Seeded, row: Reminder) -> list[Delivery]:
    """The reminder's deliveries, by occurrence, then in the order they were made."""
    async with seed.sessionmaker() as session:
        stmt = (
            select(Delivery)
            .where(Delivery.reminder_id == row.id)
            .order_by(Delivery.scheduled_for, Delivery.created_at)
        )
        return list((await session.scalars(stmt)).all())


async def run_to_end(
    env: Any,
    settings: Any,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    rows: Sequence[Reminder],
) -> None:
    """Start each row's workflow on the time-skipping `env` and run a worker with the real
    providers `settings` name until every one has ended."""
    from channels import build_providers
    from core.ratelimit import LocalRateLimiter
    from tests.conftest import build_worker
    from workflows.reminder import ReminderWorkflow

    handles = [
        await env.client.start_workflow(
            ReminderWorkflow.run, reminder_input(row), id=row.workflow_id, task_queue=task_queue
        )
        for row in rows
    ]
    providers = build_providers(settings)
    try:
        async with build_worker(
            env.client, settings, task_queue, sessionmaker, providers, LocalRateLimiter()
        ):
            for handle in handles:
                await handle.result()
    finally:
        for provider in providers.values():
            await provider.close()


async def database_dump(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """Every row of every table, as text: for checking that a secret is nowhere in clear."""
    from sqlalchemy import text

    from core.models import Base

    rows: list[str] = []
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(text(f"SELECT * FROM {table.name}"))
            rows.extend(repr(tuple(row)) for row in result.all())
    return "\n".join(rows)
