"""Async engine and session factory; SQLite gets foreign keys and WAL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.settings import Settings


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # Statement parameters stay out of error messages and logs: they hold password
    # hashes, addresses and message bodies. DATABASE_ECHO shows them, for debugging only.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": not echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def engine_from_settings(settings: Settings) -> AsyncEngine:
    return create_engine(settings.DATABASE_URL, echo=settings.DATABASE_ECHO)
