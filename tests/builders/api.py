"""Clients and reminders made through the API (a reminder made by POST /reminders)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import (
    Tenant,
    eventually,
)

# -- clients and reminders through the API (a reminder made by POST /reminders) ------------

REMINDERS_URL = "/api/v1/reminders"
REMINDER_TEXT = "Hi {{ client.name }}, your {{ reminder.title }} is due."


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def once(seconds: float) -> dict[str, Any]:
    return {"kind": "once", "at": soon(seconds)}


async def add_client(
    http: httpx.AsyncClient, tenant: Tenant, name: str = "Alice Jones", **fields: Any
) -> str:
    payload = {"name": name, "email": f"{uuid.uuid4().hex[:8]}@client.example.com", **fields}
    response = await http.post("/api/v1/clients", headers=tenant.headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def reminder_body(client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "VAT return",
        "type": "deadline",
        "channels": ["email"],
        "body": REMINDER_TEXT,
        "schedule": once(3600),
    }
    if client_id is not None:
        body["client_ids"] = [client_id]
    body.update(overrides)
    return body


async def create_reminder(
    http: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    response = await http.post(REMINDERS_URL, headers={**tenant.headers, **headers}, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def reminder_deliveries(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str
) -> list[Any]:
    response = await http.get(f"{REMINDERS_URL}/{reminder_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def wait_for_delivery(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        found[:] = [
            d for d in await reminder_deliveries(http, tenant, reminder_id) if d["status"] == status
        ]
        return bool(found)

    await eventually(check, timeout=timeout, interval=0.2)
    return found[0]


async def get_reminder(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, **params: Any
) -> dict[str, Any]:
    response = await http.get(
        f"{REMINDERS_URL}/{reminder_id}", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for_status(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update(await get_reminder(http, tenant, reminder_id))
        return bool(seen["status"] == status)

    await eventually(check, timeout=timeout, interval=0.2)
    return seen


async def settled(temporal_dev: Any, reminder: dict[str, Any]) -> None:
    """Wait until the workflow sleeps on its timer, its start-up bookkeeping done.

    A `sync_reminder` still running when the API changes the row's status can write the
    old status back for a moment (the workflow then writes the new one); tests that read
    the row's status right after a signal wait for this first.
    """
    handle = temporal_dev.client.get_workflow_handle(reminder["workflow_id"])

    async def sleeping() -> bool:
        events = (await handle.fetch_history()).events
        return events[-1].WhichOneof("attributes") == "timer_started_event_attributes"

    await eventually(sleeping, timeout=10, interval=0.1)
