"""The create's promise now that the workflow starts before its row is stored: an accepted
reminder has both; a workflow whose row never lands sends nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.reminders import service
from tests.builders.api import REMINDERS_URL, add_client, reminder_body
from tests.conftest import Tenant, count_rows
from workflows.contracts import TriggerArgs
from workflows.reminder import ReminderWorkflow


async def test_a_workflow_whose_row_never_landed_sends_nothing_and_cancels_itself(
    live_app: Any,
    client: httpx.AsyncClient,
    owner: Tenant,
    temporal_dev: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if the API died between starting the workflow and storing the row: the row
    cannot be stored and the workflow is not terminated."""
    client_id = await add_client(client, owner)
    left: list[str] = []

    async def died(temporal: Any, workflow_id: str, reason: str) -> None:
        left.append(workflow_id)

    async def failing_commit(self: Any) -> None:
        raise RuntimeError("the process died")

    monkeypatch.setattr(service, "_terminate_quietly", died)
    monkeypatch.setattr("sqlalchemy.ext.asyncio.AsyncSession.commit", failing_commit)
    response = await client.post(
        REMINDERS_URL, headers=owner.headers, json=reminder_body(client_id)
    )
    monkeypatch.undo()
    assert response.status_code == 503, response.text
    assert await count_rows(live_app, "reminders") == 0

    handle = temporal_dev.client.get_workflow_handle_for(ReminderWorkflow.run, left[0])
    await handle.signal(
        ReminderWorkflow.trigger_now, TriggerArgs(by="operator", request_id="orphan")
    )
    result = await handle.result()
    assert result.state == "cancelled"
    assert await count_rows(live_app, "deliveries") == 0
