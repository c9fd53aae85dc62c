"""Two workers and two API processes share the work; one of each is SIGKILLed mid-run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.faults.conftest import (
    Api,
    Expected,
    Stack,
    Tenant,
    add_clients,
    check_deliveries,
    new_batch,
    note,
    register,
    reminder_body,
    settle,
    wait_received,
)


async def post_reminder(api: Api, tenant: Tenant, key: str, body: object) -> httpx.Response:
    headers = {**tenant.headers, "Idempotency-Key": key}
    return await api.http.post("/api/v1/reminders", headers=headers, json=body)


async def test_one_worker_and_one_api_killed_mid_run(stack: Stack) -> None:
    """Fault: with two workers and two API processes running, 16 reminders are created
    through both APIs (each request with an Idempotency-Key); API A is SIGKILLed half
    way, and the client sends the rest - and retries the requests A would have taken -
    to API B with the same keys; worker A is SIGKILLed while the reminders are firing.
    A client sees one reminder per key (a retried create does not make a second one),
    every reminder fire and complete, and no email or SMS twice. A send that was in
    flight on the killed worker reads `failed` / `outcome_unknown` (at most once)."""
    await stack.start(workers=2, apis=2)
    api_a, api_b = stack.apis
    worker_a, worker_b = stack.workers
    tenant = await register(api_a)
    clients = await add_clients(api_b, tenant, 2)

    batch = new_batch()
    start = datetime.now(UTC) + timedelta(seconds=14)
    reminders: list[Expected] = []
    for i in range(16):
        if i == 8:
            await api_a.proc.kill()
        token, key = f"{batch}-{i}", f"fault-{batch}-{i}"
        body = reminder_body(token, clients, ["email", "sms"], start + timedelta(seconds=i * 0.4))
        try:
            response = await post_reminder(api_a if i % 2 == 0 else api_b, tenant, key, body)
        except httpx.TransportError:
            assert i >= 8, "API A failed before it was killed"
            response = await post_reminder(api_b, tenant, key, body)
        assert response.status_code == 201, response.text
        reminders.append(Expected(response.json()["id"], token, clients, ["email", "sms"]))
        if i == 6:  # a retry of a request API A answered, now through API B
            again = await post_reminder(api_b, tenant, key, body)
            assert again.status_code == 201, again.text
            assert again.json()["id"] == reminders[-1].id

    listed = await api_b.http.get(
        "/api/v1/reminders", headers=tenant.headers, params={"limit": 200}
    )
    assert listed.status_code == 200, listed.text
    assert sorted(r["id"] for r in listed.json()["items"]) == sorted(r.id for r in reminders)

    deadline = time.monotonic() + 60
    while len(stack.smtp.messages) + len(stack.twilio.messages) < 6:
        assert time.monotonic() < deadline, "nothing fired"
        await asyncio.sleep(0.05)
    await worker_a.kill()  # while the later reminders are still due or sending

    await wait_received_or_unknown(stack, api_b, tenant, reminders)
    # A send lost with worker A is retried after its start-to-close timeout (60 s).
    rows = await settle(api_b, tenant, reminders, timeout=120)
    await asyncio.sleep(2)
    outcome = check_deliveries(stack, reminders, rows, allow_outcome_unknown=True)
    note(f"sent: {outcome.sent}, outcome_unknown: {outcome.outcome_unknown}")
    assert outcome.sent + len(outcome.outcome_unknown) == 16 * 2 * 2
    assert worker_b.alive
    assert not worker_a.alive
    assert not api_a.proc.alive


async def wait_received_or_unknown(
    stack: Stack, api: Api, tenant: Tenant, reminders: list[Expected]
) -> None:
    """Most messages arrive quickly; the rest are settled (and checked) by `settle`."""
    try:
        await wait_received(stack, reminders, timeout=30)
    except AssertionError as gap:
        note(f"not all received within 30 s ({gap}); waiting for the retries")
