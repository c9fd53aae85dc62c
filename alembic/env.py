"""Alembic environment: async engine from settings (or a URL passed by the caller)."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from sqlalchemy.engine import Connection

from alembic import context
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
from core.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().DATABASE_URL


# PostgreSQL-only indexes the models do not describe (trigram search on clients): made by
# their migration, left alone by `alembic check`.
POSTGRES_ONLY_INDEX_PREFIX = "trgm_"


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "index" and (name or "").startswith(POSTGRES_ONLY_INDEX_PREFIX))


def _configure(connection: Connection | None = None, **kwargs: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rewrites the table instead.
        render_as_batch=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(run_migrations_online())
