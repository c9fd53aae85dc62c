"""The worker process dies (SIGKILL) while a webhook POST waits for the receiver's answer;
a new worker starts. The event arrives, accepted once, with a valid signature."""

from __future__ import annotations

import asyncio
import time

from tests.builders.webhook_receiver import WebhookReceiver
from tests.faults.conftest import Stack, register

URL = "/api/v1/webhook-endpoints"


async def test_worker_killed_mid_webhook_delivery_loses_nothing(stack: Stack) -> None:
    """Fault: the receiver holds its answer to the first attempt and the only worker is
    SIGKILLed meanwhile. Temporal retries the attempt once its time is up (30 s, then the
    30 s backoff) on the new worker: the receiver accepts the event once, signed, with the
    same webhook-id as the attempt that was cut off, and the log says 2 attempts."""
    async with WebhookReceiver(hang_first=1) as receiver:
        await stack.start()
        api = stack.apis[0]
        tenant = await register(api)
        made = await api.http.post(
            URL, headers=tenant.headers, json={"url": receiver.url, "events": ["client.done"]}
        )
        assert made.status_code == 201, made.text
        endpoint = made.json()
        receiver.secret = endpoint["secret"]
        queued = await api.http.post(f"{URL}/{endpoint['id']}/test", headers=tenant.headers)
        assert queued.status_code == 202, queued.text

        deadline = time.monotonic() + 30
        while not receiver.received:
            assert time.monotonic() < deadline, "the first attempt never reached the receiver"
            await asyncio.sleep(0.1)
        await stack.workers[0].kill()
        await stack.start_worker()

        deadline = time.monotonic() + 150
        while True:
            log = await api.http.get(f"{URL}/{endpoint['id']}/deliveries", headers=tenant.headers)
            [delivery] = log.json()["items"]
            if delivery["status"] != "pending":
                break
            assert time.monotonic() < deadline, f"still pending: {delivery}"
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # a late duplicate would show up here

    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
    [event] = receiver.accepted
    assert event["type"] == "webhook.test"
    assert len(receiver.received) == 2
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery["id"]}
