"""WORKER_MAX_CACHED_WORKFLOWS: a worker that keeps only one reminder in memory (and hands
a task to the shared queue after 2 s, WORKER_STICKY_QUEUE_TIMEOUT_SECONDS) still sends
each trigger once and answers each reminder's live state; the others are rebuilt from
their histories (local-activity markers included) every time they wake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from core.settings import Settings
from tests.builders.api import (
    REMINDERS_URL,
    add_client,
    create_reminder,
    get_reminder,
    reminder_body,
    reminder_deliveries,
)
from tests.conftest import Tenant, build_worker, eventually


@pytest.fixture
async def one_cached_app(app: Any, temporal_dev: Any, settings: Settings) -> AsyncIterator[Any]:
    tight = settings.model_copy(
        update={"WORKER_MAX_CACHED_WORKFLOWS": 1, "WORKER_STICKY_QUEUE_TIMEOUT_SECONDS": 2}
    )
    worker = build_worker(
        temporal_dev.client, tight, settings.TEMPORAL_TASK_QUEUE, app.state.sessionmaker
    )
    assert worker.config()["max_cached_workflows"] == 1
    assert worker.config()["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=2)
    app.state.temporal.set_client(temporal_dev.client)
    async with worker:
        yield app
    app.state.temporal._client = None


async def test_a_worker_caching_one_reminder_sends_each_trigger_of_three_once(
    one_cached_app: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    names = ("Ann", "Ben", "Cat")
    reminders = [
        await create_reminder(client, owner, reminder_body(await add_client(client, owner, name)))
        for name in names
    ]
    keys: dict[str, set[str]] = {r["id"]: set() for r in reminders}
    for _ in range(2):  # in turn, so each wake finds another reminder in the cache
        for reminder in reminders:
            answer = await client.post(
                f"{REMINDERS_URL}/{reminder['id']}/trigger", headers=owner.headers
            )
            assert answer.status_code == 202, answer.text
            keys[reminder["id"]].add(answer.json()["occurrence_key"])

    async def all_delivered() -> bool:
        for reminder in reminders:
            sent = await reminder_deliveries(client, owner, reminder["id"])
            if sorted(d["occurrence_key"] for d in sent if d["status"] == "delivered") != sorted(
                keys[reminder["id"]]
            ):
                return False
        return True

    await eventually(all_delivered, timeout=30, interval=0.3)
    for reminder, name in zip(reminders, names, strict=True):
        sent = await reminder_deliveries(client, owner, reminder["id"])
        assert len(sent) == 2  # once per trigger, nothing twice
        assert {d["body"] for d in sent} == {f"Hi {name}, your VAT return is due."}
        view = await get_reminder(client, owner, reminder["id"])
        assert view["live"] is True
        assert view["status"] == "scheduled"


def test_the_worker_cache_cannot_be_turned_off() -> None:
    # Without a cache the SDK cancels and re-runs the bookkeeping local activities at
    # every eviction; the setting refuses it by name rather than let that happen.
    with pytest.raises(ValidationError, match="WORKER_MAX_CACHED_WORKFLOWS"):
        Settings(_env_file=None, WORKER_MAX_CACHED_WORKFLOWS=0)  # type: ignore[call-arg]


@pytest.mark.parametrize("seconds", [0, 0.5, 601])
def test_a_sticky_queue_timeout_out_of_range_is_refused_by_name(seconds: float) -> None:
    with pytest.raises(ValidationError, match="WORKER_STICKY_QUEUE_TIMEOUT_SECONDS"):
        Settings(_env_file=None, WORKER_STICKY_QUEUE_TIMEOUT_SECONDS=seconds)  # type: ignore[call-arg]
