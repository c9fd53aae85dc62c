"""The Temporal server stops and starts again on the same SQLite file."""

from __future__ import annotations

import asyncio
import time

from tests.faults.conftest import (
    Api,
    Stack,
    add_clients,
    check_deliveries,
    create_many,
    register,
    settle,
    wait_received,
)


async def readiness(api: Api) -> tuple[int, dict[str, object]]:
    response = await api.http.get("/readyz", timeout=10)
    return response.status_code, response.json()


async def test_temporal_restarted_while_reminders_sleep(stack: Stack) -> None:
    """Fault: the Temporal dev server is stopped (SIGTERM) while 10 reminders sleep and
    stays down until after they were due, then starts again on the same --db-filename.
    The same worker and API processes stay up throughout. A client sees /readyz report
    Temporal down (503) and then up again, every reminder fire once the server is back,
    each email and SMS exactly once, and every reminder completed."""
    await stack.start()
    api = stack.apis[0]
    worker = stack.workers[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 2)
    reminders = await create_many(api, tenant, clients, 10, due_in=8, spread=1)

    await asyncio.sleep(2)
    await stack.stop_temporal()
    status, body = await readiness(api)
    assert status == 503, body
    assert body["checks"]["temporal"]["ok"] is False, body  # type: ignore[index]
    await asyncio.sleep(10)  # down past every due time
    assert not stack.smtp.messages
    assert not stack.twilio.messages
    await stack.start_temporal()

    await wait_received(stack, reminders, timeout=90)
    rows = await settle(api, tenant, reminders, timeout=60)
    await asyncio.sleep(2)
    outcome = check_deliveries(stack, reminders, rows)
    assert outcome.sent == 10 * 2 * 2
    assert worker.alive, "the worker process did not survive the Temporal restart"
    assert len(stack.workers) == 1
    deadline = time.monotonic() + 30
    while (ready := await readiness(api))[0] != 200:
        assert time.monotonic() < deadline, f"/readyz did not recover: {ready}"
        await asyncio.sleep(1)
