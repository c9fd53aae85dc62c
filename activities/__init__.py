"""Activities: everything that touches the outside world, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.diagnostics import DiagnosticsActivities
from core.settings import Settings


def build_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[Callable[..., Any]]:
    """The bound activity methods the worker registers; channels add theirs here."""
    diagnostics = DiagnosticsActivities(sessionmaker)
    return [diagnostics.check_database]
