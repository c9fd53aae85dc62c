"""One business with one client on its own engine: the world the workflow tests, the
delivery tests and the history recorder start from (no HTTP, straight into the tables)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.models import Business
from core.models import Client as ClientRow

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
        session.add(Business(id=business_id, name=name, timezone=timezone))
        await session.flush()
        session.add(ClientRow(id=client_id, business_id=business_id, **BOB))
        session.add_all([make(business_id) for make in extra])
        await session.commit()
    try:
        yield Seeded(sessionmaker, business_id, client_id)
    finally:
        await engine.dispose()
