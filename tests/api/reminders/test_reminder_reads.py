"""GET /reminders/{id} answers from the row the workflow keeps in step, and asks the
workflow only where the row may be behind (an occurrence is due) or the caller asks."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from core.models import Reminder
from core.temporal import TemporalConnector
from tests.builders.api import (
    REMINDERS_URL,
    add_client,
    create_reminder,
    get_reminder,
    reminder_body,
    settled,
    wait_for_delivery,
)
from tests.conftest import Tenant, eventually


@asynccontextmanager
async def silent_temporal(app: Any, settings: Any) -> AsyncIterator[None]:
    """Temporal that accepts connections and never answers (an overloaded frontend)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    host, port = silent.getsockname()
    working = app.state.temporal
    app.state.temporal = TemporalConnector(
        settings.model_copy(update={"TEMPORAL_ADDRESS": f"{host}:{port}"})
    )
    try:
        yield
    finally:
        app.state.temporal = working
        silent.close()


async def move_row(app: Any, reminder_id: str, next_fire_at: datetime) -> None:
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(reminder_id))
            .values(next_fire_at=next_fire_at)
        )
        await session.commit()


async def test_a_read_needs_no_temporal_while_the_row_is_the_workflows_state(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Any
) -> None:
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    async with silent_temporal(live_app, settings):
        view = await get_reminder(client, owner, created["id"])
    # A query would have failed (nothing answers): the row answered, as the workflow's.
    assert (view["live"], view["status"], view["next_fire_at"]) == (
        True,
        "scheduled",
        created["next_fire_at"],
    )


async def test_a_row_whose_occurrence_is_due_is_not_trusted_the_workflow_answers(
    live_app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    settings: Any,
    temporal_dev: Any,
) -> None:
    """A row that says an occurrence is due may be behind a workflow that has sent it and
    moved on: the read asks the workflow, and says `live: false` when it cannot."""
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    await settled(temporal_dev, created)
    behind = datetime.now(UTC) - timedelta(minutes=5)
    await move_row(live_app, created["id"], behind)

    view = await get_reminder(client, owner, created["id"])
    assert (view["live"], view["next_fire_at"]) == (True, created["next_fire_at"])

    async with silent_temporal(live_app, settings):
        view = await get_reminder(client, owner, created["id"])
    assert view["live"] is False
    assert datetime.fromisoformat(view["next_fire_at"]) == behind


async def test_the_row_carries_the_last_occurrence_the_workflow_sent(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, settings: Any
) -> None:
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    assert (await get_reminder(client, owner, created["id"]))["last_occurrence"] is None
    answer = await client.post(f"{REMINDERS_URL}/{created['id']}/trigger", headers=owner.headers)
    assert answer.status_code == 202, answer.text
    key = answer.json()["occurrence_key"]
    await wait_for_delivery(client, owner, created["id"], "delivered")

    async def written() -> bool:
        view = await get_reminder(client, owner, created["id"])
        return bool(view["occurrences_sent"] == 1 and view["last_occurrence"] == key)

    await eventually(written, timeout=10, interval=0.2)
    async with silent_temporal(live_app, settings):
        view = await get_reminder(client, owner, created["id"])
    assert (view["live"], view["occurrences_sent"], view["last_occurrence"]) == (True, 1, key)
    asked = await get_reminder(client, owner, created["id"], live="true")
    assert (asked["live"], asked["last_occurrence"]) == (True, key)


async def test_another_business_reads_nothing_with_or_without_live(
    live_app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    created = await create_reminder(client, owner, reminder_body(await add_client(client, owner)))
    for params in ({}, {"live": "true"}):
        response = await client.get(
            f"{REMINDERS_URL}/{created['id']}", headers=other_owner.headers, params=params
        )
        assert response.status_code == 404, response.text
