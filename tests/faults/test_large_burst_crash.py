"""Issue 16's guard on the faster engine: a burst of 500 reminders on SMS with the worker
SIGKILLed once mid-burst (a random point between 20 % and 80 % of the messages) and
restarted. Each message must reach the provider exactly once and every delivery read
`sent`: Twilio is asked about any send the dead worker had claimed, so nothing is lost,
doubled or unknown. Runs on a SQLite app database and on PostgreSQL (skipped without
FAULTS_POSTGRES_URL).
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from tests.faults.conftest import (
    Expected,
    Stack,
    add_clients,
    check_deliveries,
    create_reminder,
    new_batch,
    note,
    received,
    register,
    settle,
)

REMINDERS = 500
CLIENTS = 50
LEAD = 60.0
# At most this many creates at once: a business may have 1 text rendering and 4 waiting
# (the trial render at save; more answer 429, as they should).
CREATING_AT_ONCE = 4


async def test_a_burst_of_500_survives_a_kill_with_every_message_once(
    drill_stack: Stack,
) -> None:
    stack = drill_stack
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, CLIENTS)
    batch, at = new_batch(), datetime.now(UTC) + timedelta(seconds=LEAD)
    began, gate = time.monotonic(), asyncio.Semaphore(CREATING_AT_ONCE)

    async def create(n: int) -> Expected:
        async with gate:
            return await create_reminder(
                api, tenant, f"{batch}-{n}", [clients[n % CLIENTS]], ["sms"], at
            )

    reminders = list(await asyncio.gather(*(create(n) for n in range(REMINDERS))))
    assert time.monotonic() - began < LEAD - 5, "creating the burst took too long to test"

    point = int(REMINDERS * random.uniform(0.2, 0.8))
    while sum(received(stack).values()) < point:
        await asyncio.sleep(0.01)
    arrived = sum(received(stack).values())
    await stack.workers[-1].kill()
    await stack.start_worker()
    note(f"500-reminder burst: killed with {arrived} of {REMINDERS} messages arrived")

    rows = await settle(api, tenant, reminders, timeout=240)
    await asyncio.sleep(2)  # a late duplicate would show up here
    outcome = check_deliveries(stack, reminders, rows)  # strict: sent, and exactly one each
    assert outcome.sent == REMINDERS
    assert sum(received(stack).values()) == REMINDERS
