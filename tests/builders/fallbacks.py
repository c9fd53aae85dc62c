"""A late failure's fallback that the API could not hand to Temporal: make the API's
Temporal unreachable, read the marker the delivery keeps, age it, and sweep as the
worker does (core/fallbacks.py)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core.fallbacks import WAITING_AFTER, send_waiting
from core.models import Delivery
from core.temporal import TemporalConnector, placement
from core.types import utcnow
from tests.builders.firm import Firm


@contextmanager
def temporal_down(firm: Firm) -> Iterator[None]:
    """The API's Temporal refuses connections (nothing listens on its port)."""
    app: Any = firm.http.app  # type: ignore[attr-defined]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    working = app.state.temporal
    address = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
    app.state.temporal = TemporalConnector(app.state.settings.model_copy(update=address))
    try:
        yield
    finally:
        app.state.temporal = working


async def sweep(firm: Firm) -> int:
    """The worker's fallback sweep, with the worker's (working) Temporal client."""
    app: Any = firm.http.app  # type: ignore[attr-defined]
    return await send_waiting(
        app.state.sessionmaker, firm.env.client, placement(app.state.settings)
    )


async def marker(firm: Firm, delivery_id: str) -> tuple[str | None, bool]:
    """The fallback channel kept on the delivery, and whether it still waits to be sent."""
    app: Any = firm.http.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        row = (
            await session.execute(
                select(Delivery.fallback_channel, Delivery.fallback_requested_at).where(
                    Delivery.id == uuid.UUID(delivery_id)
                )
            )
        ).one()
    return row[0], row[1] is not None


async def age_markers(firm: Firm) -> None:
    """Let the requests grow old enough for the sweep (it leaves the API's own alone)."""
    app: Any = firm.http.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.fallback_requested_at.is_not(None))
            .values(fallback_requested_at=utcnow() - WAITING_AFTER - timedelta(seconds=1))
        )
        await session.commit()
