"""Slow endpoints cannot take a worker over: at most WEBHOOK_MAX_CONCURRENT webhook POSTs
are in flight per worker; the others are refused at once and retried later, so the
activity slots the message sends need stay free."""

from __future__ import annotations

import asyncio
from typing import Any

from core.settings import Settings
from tests.api.webhook_endpoints.test_delivery import (
    URL,
    add_endpoint,
    finished,
    log_of,
    send_test,
)
from tests.builders.firm import Firm, firm_on
from tests.builders.webhook_receiver import WebhookReceiver


async def last_failure(firm: Firm, delivery_id: str) -> str:
    """What the delivery's pending attempt last failed with ("" if none yet)."""
    handle = firm.env.client.get_workflow_handle(f"webhook-{delivery_id}")
    pending = (await handle.describe()).raw_description.pending_activities
    return pending[0].last_failure.message if pending else ""


async def test_a_hanging_endpoint_holds_one_slot_and_the_next_event_waits(
    temporal_time_skipping: Any, settings: Settings
) -> None:
    one_at_a_time = settings.model_copy(update={"WEBHOOK_MAX_CONCURRENT": 1})
    async with firm_on(temporal_time_skipping, one_at_a_time) as firm:
        async with WebhookReceiver(hang_first=1) as receiver:
            endpoint = await add_endpoint(firm, receiver)
            first = await send_test(firm, endpoint["id"])
            for _ in range(400):  # in real time: the first POST reaches the receiver
                if receiver.received:
                    break
                await asyncio.sleep(0.05)
            second = await send_test(firm, endpoint["id"])
            for _ in range(400):  # the second attempt ran, and was turned away
                if "WEBHOOK_MAX_CONCURRENT" in await last_failure(firm, second):
                    break
                await asyncio.sleep(0.05)
            log = {d["id"]: d for d in await log_of(firm, endpoint["id"])}

            assert len(receiver.received) == 1  # the second was never POSTed meanwhile
            assert log[second]["attempts"] == 0
            assert log[first]["attempts"] == 1
            await firm.http.delete(f"{URL}/{endpoint['id']}", headers=firm.headers)
        for delivery_id in (first, second):  # leaves nothing running
            assert await finished(firm, delivery_id) in ("gone", "failed")
