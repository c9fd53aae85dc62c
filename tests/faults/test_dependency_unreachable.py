"""What the API answers while Temporal or the database is unreachable, and recovery."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url
from temporalio.client import Client

from tests.faults.conftest import (
    HOST,
    Api,
    Expected,
    Stack,
    Tenant,
    add_clients,
    admin_dsn,
    check_deliveries,
    create_many,
    new_batch,
    note,
    register,
    reminder_body,
    settle,
    wait_received,
)

# A client gives up after this long; every answer below must come sooner.
CLIENT_TIMEOUT = 30.0


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await asyncio.wait_for(call, CLIENT_TIMEOUT)
    return response, time.monotonic() - started


async def listed_ids(api: Api, tenant: Tenant) -> list[str]:
    response = await api.http.get("/api/v1/reminders", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


async def reminder_workflows(stack: Stack) -> int:
    client = await Client.connect(f"{HOST}:{stack.temporal_port}")
    return (await client.count_workflows("WorkflowType = 'ReminderWorkflow'")).count


async def test_temporal_unreachable_when_a_reminder_is_created(stack: Stack) -> None:
    """Fault: the Temporal server is stopped while the API and the database are up, and a
    client creates a reminder. The client gets 503 (within its 30 s timeout) saying
    nothing was stored; the reminder list is unchanged and /readyz says Temporal is down
    (503) while the database is fine. Once Temporal is back, the same request (same
    Idempotency-Key) creates the reminder, which fires once, and Temporal holds exactly
    the workflows of the reminders the API accepted."""
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 1)
    # The API has already spoken to Temporal (its client is connected) before the outage.
    [earlier] = await create_many(api, tenant, clients, 1, due_in=3600)
    assert await listed_ids(api, tenant) == [earlier.id]

    await stack.stop_temporal()
    token = f"{new_batch()}-0"
    at = datetime.now(UTC) + timedelta(seconds=25)
    body = reminder_body(token, clients, ["email", "sms"], at)
    headers = {**tenant.headers, "Idempotency-Key": f"key-{token}"}
    response, took = await timed(api.http.post("/api/v1/reminders", headers=headers, json=body))
    note(f"create while Temporal is down: {response.status_code} in {took:.1f}s")
    assert response.status_code == 503, response.text
    assert "nothing was stored" in response.json()["detail"]
    assert await listed_ids(api, tenant) == [earlier.id]

    ready, took = await timed(api.http.get("/readyz"))
    assert ready.status_code == 503, ready.text
    checks = ready.json()["checks"]
    assert checks["temporal"]["ok"] is False, checks
    assert checks["database"]["ok"] is True, checks

    await stack.start_temporal()
    deadline = time.monotonic() + 30
    while True:
        response = await api.http.post("/api/v1/reminders", headers=headers, json=body)
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert response.status_code == 201, response.text
    created = Expected(response.json()["id"], token, clients, ["email", "sms"], at)
    assert await listed_ids(api, tenant) == sorted([earlier.id, created.id])

    await wait_received(stack, [created], timeout=60)
    rows = await settle(api, tenant, [created], timeout=30)
    check_deliveries(stack, [created], rows)
    assert await reminder_workflows(stack) == 2


def set_connections(url: str, allowed: bool) -> None:
    """ALLOW_CONNECTIONS on the app's database, and (when refusing) end every session
    on it: to the app, the database server is gone; other databases are untouched."""
    name = make_url(url).database
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


async def test_database_unreachable(pg_stack: Stack, postgres_url: str) -> None:
    """Fault: the app's PostgreSQL database refuses connections (ALLOW_CONNECTIONS false,
    every session terminated) for ~20 s while 3 reminders come due. A client sees
    /readyz answer 503 with the database check failing, and API routes answer 503
    promptly (not hang); when the database is back, /readyz is 200 again, the routes
    work, and the reminders that came due during the outage are delivered, each message
    exactly once. Runs on PostgreSQL (FAULTS_POSTGRES_URL or TEST_DATABASE_URL); skipped
    without one."""
    stack = pg_stack
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 2)
    reminders = await create_many(api, tenant, clients, 3, due_in=10)

    await asyncio.to_thread(set_connections, postgres_url, False)
    try:
        ready, took = await timed(api.http.get("/readyz"))
        note(f"/readyz while the database is down: {ready.status_code} in {took:.1f}s")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"]["ok"] is False, ready.text
        for method, path in (("GET", "/api/v1/reminders"), ("POST", "/api/v1/clients")):
            body = {"name": "Nobody"} if method == "POST" else None
            response, took = await timed(
                api.http.request(method, path, headers=tenant.headers, json=body)
            )
            note(
                f"{method} {path} while the database is down: {response.status_code} in {took:.1f}s"
            )
            assert response.status_code == 503, response.text
        await asyncio.sleep(15)  # the reminders come due meanwhile
        assert not stack.smtp.messages
        assert not stack.twilio.messages
    finally:
        await asyncio.to_thread(set_connections, postgres_url, True)

    deadline = time.monotonic() + 30
    while (await api.http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "/readyz did not recover"
        await asyncio.sleep(0.5)
    assert len(await listed_ids(api, tenant)) == 3
    await wait_received(stack, reminders, timeout=90)
    rows = await settle(api, tenant, reminders, timeout=60)
    await asyncio.sleep(2)
    check_deliveries(stack, reminders, rows)
    assert all(w.alive for w in stack.workers)
    assert all(a.proc.alive for a in stack.apis)
