"""The SMTP server and the Twilio API are down (nothing listens) while reminders fire."""

from __future__ import annotations

import asyncio

from tests.faults.conftest import (
    Stack,
    add_clients,
    check_deliveries,
    create_many,
    deliveries_of,
    register,
    seconds_until,
    settle,
    wait_received,
)

# Sends retry 5, 10, 20, 40 s apart (SEND_RETRY in workflows/reminder.py): down for a
# minute after the due time, the attempts at +0, +5, +15 and +35 s fail and the one at
# +75 s succeeds.
OUTAGE_AFTER_DUE = 60.0


async def test_smtp_and_twilio_down_while_reminders_fire(stack: Stack) -> None:
    """Fault: both providers stop listening before 5 reminders (2 clients, email and SMS)
    come due and stay down for a minute past it (four attempts of every send fail with a
    refused connection), then come back on the same ports. While they are down a client
    sees each delivery `pending` with its reason (`connection_error`); afterwards every
    delivery `sent`, each message exactly once, no delivery `failed`, every reminder
    completed."""
    await stack.start()
    api = stack.apis[0]
    tenant = await register(api)
    clients = await add_clients(api, tenant, 2)
    reminders = await create_many(api, tenant, clients, 5, due_in=6)
    due = min(r.at for r in reminders if r.at is not None)

    await stack.twilio.stop()
    await asyncio.to_thread(stack.smtp.stop)
    await asyncio.sleep(seconds_until(due) + OUTAGE_AFTER_DUE - 3)
    for reminder in reminders:
        rows = await deliveries_of(api, tenant, reminder.id)
        assert len(rows) == 4, rows
        for row in rows:
            assert row["status"] == "pending", row
            assert row["error_code"] == "connection_error", row
    await asyncio.sleep(3)
    assert not stack.smtp.messages
    assert not stack.twilio.messages
    await asyncio.to_thread(stack.smtp.start)
    await stack.twilio.start()

    await wait_received(stack, reminders, timeout=60)
    rows_by_reminder = await settle(api, tenant, reminders, timeout=60)
    await asyncio.sleep(2)
    outcome = check_deliveries(stack, reminders, rows_by_reminder)
    assert outcome.sent == 5 * 2 * 2
    attempts = [row["attempts"] for rows in rows_by_reminder.values() for row in rows]
    assert min(attempts) >= 5, attempts  # it took retries, not one lucky first attempt
