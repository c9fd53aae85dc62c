"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and reverse."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from core import (
    api_key_models,  # noqa: F401  (its tables are on Base too)
    client_field_models,  # noqa: F401  (its tables are on Base too)
    invitation_models,  # noqa: F401  (its tables are on Base too)
    progress_models,  # noqa: F401  (its tables are on Base too)
    reply_models,  # noqa: F401  (its tables are on Base too)
    webhook_models,  # noqa: F401  (its tables are on Base too)
)
from core.db import create_engine
from core.models import Base
from ops import migrations
from tests.conftest import _create_postgres_database


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url, drop = _create_postgres_database(base)
        yield url
        drop()
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_upgrade_creates_every_model_table_and_check_finds_no_drift(fresh_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_url)
    assert await _tables(fresh_url) == set(Base.metadata.tables)
    # `alembic check` raises when the models and the migrations disagree.
    await asyncio.to_thread(migrations.check, fresh_url)


async def test_downgrade_to_base_and_up_again(fresh_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_url)
    await asyncio.to_thread(migrations.downgrade, fresh_url, "base")
    assert await _tables(fresh_url) == set()
    await asyncio.to_thread(migrations.upgrade, fresh_url)
    assert await _tables(fresh_url) == set(Base.metadata.tables)


async def test_opt_outs_clients_made_before_suppressions_become_suppressions(
    fresh_url: str,
) -> None:
    """The migration that brings suppressions reads the audit log: an opt-out with a
    client's source (STOP, the unsubscribe link) suppresses the address; one staff set
    (no such event), or one the client has since lifted, does not."""
    import json
    import uuid

    from sqlalchemy import text

    await asyncio.to_thread(migrations.upgrade, fresh_url, "f3a4b5c6d7e8")
    sqlite = fresh_url.startswith("sqlite")
    business, by_stop, by_staff, lifted = (uuid.uuid4() for _ in range(4))

    def key(value: uuid.UUID) -> Any:
        return value.hex if sqlite else value

    engine = create_engine(fresh_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO businesses (id, name, timezone, default_channels, created_at, "
                "updated_at) VALUES (:id, 'B', 'UTC', '[\"email\"]', :now, :now)"
            ),
            {"id": key(business), "now": "2026-11-01T00:00:00+00:00"},
        )
        for client_id, phone, opted in (
            (by_stop, "+447911000001", ["sms"]),
            (by_staff, "+447911000002", ["sms"]),
            (lifted, "+447911000003", []),
        ):
            await conn.execute(
                text(
                    "INSERT INTO clients (id, business_id, name, phone, preferred_channels, "
                    "opted_out_channels, created_at, updated_at) VALUES (:id, :b, 'C', :phone, "
                    "'[]', :opted, :now, :now)"
                ),
                {
                    "id": key(client_id),
                    "b": key(business),
                    "phone": phone,
                    "opted": json.dumps(opted),
                    "now": "2026-11-01T00:00:00+00:00",
                },
            )
        for client_id in (by_stop, lifted):
            await conn.execute(
                text(
                    "INSERT INTO app_events (id, business_id, action, subject_type, "
                    "subject_id, payload, created_at) VALUES (:id, :b, 'client.opted_out', "
                    "'client', :subject, :payload, :now)"
                ),
                {
                    "id": key(uuid.uuid4()),
                    "b": key(business),
                    "subject": str(client_id),
                    "payload": json.dumps({"channel": "sms", "source": "inbound_keyword"}),
                    "now": "2026-11-02T00:00:00+00:00",
                },
            )
    await engine.dispose()

    await asyncio.to_thread(migrations.upgrade, fresh_url)

    engine = create_engine(fresh_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT channel, address, source FROM suppressions"))).all()
    await engine.dispose()
    assert [tuple(row) for row in rows] == [("sms", "+447911000001", "inbound_keyword")]


async def test_deliveries_made_before_the_counts_ledger_are_counted(fresh_url: str) -> None:
    """The migration that brings the delivery counts counts the deliveries already there;
    from then on the database keeps the counts in step."""
    import uuid

    from sqlalchemy import func, insert, select

    from core.db import create_sessionmaker
    from core.models import Delivery
    from core.repositories.delivery_counts import delivery_counts
    from tests.seed import add_reminder, seeded_business

    await asyncio.to_thread(migrations.upgrade, fresh_url, "6dc7e8f9a0b1")
    async with seeded_business(fresh_url) as seed:
        reminder = await add_reminder(
            seed, {"kind": "once", "at": "2026-11-01T09:00:00Z"}, body="Hi"
        )
        async with seed.sessionmaker() as session:
            for status in ("delivered", "delivered", "failed"):
                # Core: the columns of that revision only.
                await session.execute(
                    insert(Delivery).values(
                        business_id=seed.business_id,
                        reminder_id=reminder.id,
                        channel="email",
                        occurrence_key=uuid.uuid4().hex,
                        status=status,
                    )
                )
            await session.commit()
    await asyncio.to_thread(migrations.upgrade, fresh_url)

    engine = create_engine(fresh_url)
    async with create_sessionmaker(engine)() as session:
        assert await delivery_counts(session, seed.business_id) == {
            ("email", "delivered"): 2,
            ("email", "failed"): 1,
        }
        delivery = await session.scalar(select(Delivery).where(Delivery.status == "failed"))
        assert delivery is not None
        delivery.status = "delivered"
        await session.commit()
        assert await delivery_counts(session, seed.business_id) == {("email", "delivered"): 3}
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 3
    await engine.dispose()
