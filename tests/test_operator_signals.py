"""What an operator does by hand: signal a reminder with the `temporal` CLI, as the README
says, and see the effect through the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Tenant, eventually, venv_binary


async def _temporal_cli(env: Any, *args: str) -> tuple[int, str]:
    address = env.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        venv_binary("temporal"),
        *args,
        "--address",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, out.decode()


async def _create_reminder(client: httpx.AsyncClient, owner: Tenant) -> dict[str, Any]:
    person = await client.post(
        "/api/v1/clients",
        headers=owner.headers,
        json={"name": "Dora Debtor", "email": "dora@example.com"},
    )
    assert person.status_code == 201, person.text
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    response = await client.post(
        "/api/v1/reminders",
        headers=owner.headers,
        json={
            "title": "Invoice 42 is unpaid",
            "type": "payment",
            "client_ids": [person.json()["id"]],
            "channels": ["email"],
            "subject": "Invoice 42",
            "body": "Hi {{ client.name }}, invoice 42 is still open.",
            "schedule": {"kind": "once", "at": at.isoformat()},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_trigger_now_from_the_temporal_cli_is_delivered(
    live_app: Any, temporal_dev: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    reminder = await _create_reminder(client, owner)
    code, out = await _temporal_cli(
        temporal_dev,
        "workflow",
        "signal",
        "--workflow-id",
        reminder["workflow_id"],
        "--name",
        "trigger_now",
    )
    assert code == 0, out

    async def delivered() -> bool:
        response = await client.get(
            f"/api/v1/reminders/{reminder['id']}/deliveries", headers=owner.headers
        )
        items = response.json()["items"]
        return any(d["status"] == "delivered" for d in items)

    await eventually(delivered, timeout=20)
    deliveries = (
        await client.get(f"/api/v1/reminders/{reminder['id']}/deliveries", headers=owner.headers)
    ).json()["items"]
    assert deliveries[0]["occurrence_key"].startswith("manual-")
    assert deliveries[0]["body"] == "Hi Dora Debtor, invoice 42 is still open."
    # The schedule is untouched: the 30-day occurrence is still ahead.
    detail = (await client.get(f"/api/v1/reminders/{reminder['id']}", headers=owner.headers)).json()
    assert detail["status"] == "scheduled"
    assert detail["next_fire_at"] is not None


async def test_operator_finds_a_business_reminders_by_search_attribute(
    live_app: Any, temporal_dev: Any, client: httpx.AsyncClient, owner: Tenant
) -> None:
    reminder = await _create_reminder(client, owner)
    query = f'BusinessId = "{owner.business_id}" AND ReminderState = "scheduled"'

    async def listed() -> bool:
        code, out = await _temporal_cli(temporal_dev, "workflow", "list", "--query", query)
        return code == 0 and reminder["workflow_id"] in out

    # Visibility is eventually consistent.
    await eventually(listed, timeout=20, interval=0.5)

    code, out = await _temporal_cli(
        temporal_dev,
        "workflow",
        "signal",
        "--workflow-id",
        reminder["workflow_id"],
        "--name",
        "pause",
    )
    assert code == 0, out

    async def paused() -> bool:
        code, out = await _temporal_cli(
            temporal_dev,
            "workflow",
            "list",
            "--query",
            f'BusinessId = "{owner.business_id}" AND ReminderState = "paused"',
        )
        return reminder["workflow_id"] in out

    await eventually(paused, timeout=20, interval=0.5)
