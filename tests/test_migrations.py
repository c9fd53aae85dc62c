"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and reverse."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from core import migrations
from core.db import create_engine
from core.models import Base
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
