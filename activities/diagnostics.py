"""Diagnostics activity: proves a worker is alive and reaches the database."""

from __future__ import annotations

import os
import socket

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from workflows.contracts import CHECK_DATABASE
from workflows.diagnostics import DatabaseCheck


class DiagnosticsActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn(name=CHECK_DATABASE)
    async def check_database(self) -> DatabaseCheck:
        """Run `SELECT 1`; any error propagates so the workflow's retry policy applies."""
        async with self._sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            dialect = session.get_bind().dialect.name
        # Same shape as Temporal's default worker identity, so the two can be matched in the UI.
        return DatabaseCheck(
            database="ok", dialect=dialect, worker=f"{os.getpid()}@{socket.gethostname()}"
        )
