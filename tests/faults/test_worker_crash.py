"""The worker process dies (SIGKILL: no shutdown code runs) and a new one is started."""

from __future__ import annotations

import asyncio
import time

from tests.faults.conftest import (
    Stack,
    add_clients,
    check_deliveries,
    create_many,
    note,
    register,
    settle,
    wait_received,
)


async def test_worker_killed_while_reminders_sleep(stack: Stack) -> None:
    """Fault: the only worker is SIGKILLed while 20 reminders sleep; a new worker starts
    after they are due. A client sees every reminder fire (late by the outage), each
    email and SMS exactly once, and every reminder completed."""
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 2)
    reminders = await create_many(api, tenant, clients, 20, due_in=10, spread=2)

    worker = stack.workers[0]
    await asyncio.sleep(3)  # the workflows have started and sleep on their timers
    await worker.kill()
    await asyncio.sleep(12)  # every reminder comes due while no worker runs
    assert not stack.smtp.messages
    assert not stack.twilio.messages
    await stack.start_worker()

    await wait_received(stack, reminders, timeout=60)
    rows = await settle(api, tenant, reminders, timeout=60)
    await asyncio.sleep(2)  # a late duplicate would show up here
    outcome = check_deliveries(stack, reminders, rows)
    assert outcome.sent == 20 * 2 * 2


async def test_worker_killed_while_sends_are_in_flight(stack: Stack) -> None:
    """Fault: the worker is SIGKILLed while the SMTP server holds its answer to messages
    it has already accepted (and Twilio holds its answer before accepting); a new worker
    starts. At most once per client and channel, nothing lost: the retry asks Twilio,
    finds each SMS it took and records it `sent` (not re-sent); an SMTP server cannot be
    asked, so an email whose content it had reads `failed` / `outcome_unknown` (not
    silently `sent`, not re-sent). Every reminder completes."""
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 1)
    stack.smtp.hold_reply_next(3, 120)
    stack.twilio.delay_next(3, 4.0)
    reminders = await create_many(api, tenant, clients, 3, due_in=5)

    deadline = time.monotonic() + 60
    while len(stack.smtp.messages) < 3 or len(stack.twilio.requests) < 3:
        assert time.monotonic() < deadline, "the sends never reached the providers"
        await asyncio.sleep(0.1)
    await stack.workers[0].kill()  # the worker, while every send waits for its answer
    await asyncio.sleep(5)  # Twilio's delayed requests are accepted meanwhile
    await stack.start_worker()

    # Temporal retries a lost send after its heartbeat timeout (10 s).
    rows = await settle(api, tenant, reminders, timeout=120)
    await asyncio.sleep(2)
    outcome = check_deliveries(stack, reminders, rows, allow_outcome_unknown=True)
    note(f"sent: {outcome.sent}, outcome_unknown: {outcome.outcome_unknown}")
    # All six were handed over before the kill and each arrived once: the three SMS are
    # known (Twilio was asked), the three emails are not.
    assert outcome.sent == 3
    assert sorted(channel for _, _, channel, _ in outcome.outcome_unknown) == ["email"] * 3
    assert all(arrived == 1 for *_, arrived in outcome.outcome_unknown)
