"""Resending a delivery (`POST /notifications/{id}/resend` signals `resend`, with start
once the reminder's workflow has ended): on the time-skipping server with the real SMTP
provider and a real SMTP server, what the client and the business notice: the message
that arrives, the delivery rows, and the reminder's row."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from core.models import Delivery, Reminder
from core.settings import Settings
from core.temporal import placement
from tests.builders.delivery import BOB_EMAIL, Outbox, outbox, worker
from tests.conftest import eventually
from workflows.contracts import ResendArgs, SignalArgs
from workflows.reminder import ReminderWorkflow
from workflows.reminder_client import fetch_runs, resend_to_completed

BOUNCE = "5.1.1 Mailbox unavailable"


@pytest.fixture
async def box(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[Outbox]:
    async with outbox(temporal_time_skipping, settings, database_url) as made:
        yield made


async def _bounced_nudge(box: Outbox) -> tuple[Reminder, WorkflowHandle[Any, Any], Delivery]:
    """A deadline reminder whose first nudge bounced; it waits for the due date."""
    due = await box.now() + timedelta(days=10)
    row = await box.reminder(
        {"kind": "deadline", "due_at": due.isoformat(), "offsets": ["-P9D", "PT0S"]}
    )
    handle = await box.start(row)
    await box.env.sleep(timedelta(days=2))  # past the nudge, well before the due date
    [bounced] = await box.deliveries(row)
    assert (bounced.status, bounced.error_code) == ("failed", "smtp_550")
    return row, handle, bounced


def _resend_args(delivery: Delivery) -> ResendArgs:
    return ResendArgs(
        delivery_id=str(delivery.id),
        client_id=str(delivery.client_id),
        channel=delivery.channel,
        request_id=str(uuid.uuid4()),
        by="ann@annandco.example.com",
    )


async def _resend(handle: WorkflowHandle[Any, Any], delivery: Delivery) -> str:
    args = _resend_args(delivery)
    await handle.signal(ReminderWorkflow.resend, args)
    return f"resend-{args.request_id}"


async def _stored(box: Outbox, row: Reminder) -> Reminder:
    async with box.sessionmaker() as session:
        stored = await session.get(Reminder, row.id)
        assert stored is not None
        return stored


async def _fired_and_bounced(box: Outbox) -> tuple[Reminder, Delivery]:
    """A once reminder whose only email the server refused; its workflow has ended and
    its row says completed. The client's mailbox works again afterwards."""
    box.smtp.reject_recipient(BOB_EMAIL, 550, BOUNCE)
    row = await box.reminder()
    assert (await (await box.start(row)).result()).state == "completed"
    [bounced] = await box.deliveries(row)
    assert (bounced.status, bounced.error_code) == ("failed", "smtp_550")
    box.smtp.reset()
    return await _stored(box, row), bounced


async def _resend_after_end(box: Outbox, row: Reminder, delivery: Delivery) -> str:
    """What the API does for a completed reminder (its worker polls the box's queue)."""
    settings: Settings = box.settings.model_copy(update={"TEMPORAL_TASK_QUEUE": box.task_queue})
    args = _resend_args(delivery)
    await resend_to_completed(box.client, placement(settings), row, args, now=await box.now())
    return f"resend-{args.request_id}"


async def _wait_for_rows(box: Outbox, row: Reminder, count: int) -> list[Delivery]:
    async def settled() -> bool:
        rows = await box.deliveries(row)
        return len(rows) == count and all(d.status != "pending" for d in rows)

    await eventually(settled, timeout=20, interval=0.1)
    return await box.deliveries(row)


def _fields(delivery: Delivery) -> dict[str, Any]:
    names = ("status", "error_code", "error_message", "attempts", "occurrence_key", "sent_at")
    return {name: getattr(delivery, name) for name in names}


async def test_a_bounced_email_resent_once_the_server_accepts_arrives_once_linked_to_it(
    box: Outbox,
) -> None:
    box.smtp.reject_recipient(BOB_EMAIL, 550, BOUNCE)
    async with worker(box):
        row, handle, bounced = await _bounced_nudge(box)
        before = _fields(bounced)
        assert box.smtp.messages == []
        box.smtp.reset()  # the client's mailbox works again
        key = await _resend(handle, bounced)
        original, resent = await _wait_for_rows(box, row, 2)
        await handle.signal(ReminderWorkflow.complete, SignalArgs(by="test"))
        result = await handle.result()

    [message] = box.smtp.messages
    assert message.message["To"] == BOB_EMAIL
    assert "please send your VAT documents" in message.text
    assert original.id == bounced.id
    assert _fields(original) == before  # the original stays as it was
    assert original.resend_of is None
    assert resent.resend_of == bounced.id
    assert resent.occurrence_key == key
    assert (resent.client_id, resent.channel) == (bounced.client_id, "email")
    assert (resent.status, resent.error_code, resent.attempts) == ("sent", None, 1)
    assert resent.provider_message_id is not None
    # It belongs to the original's period (its done link, if the text has one, names it).
    assert resent.period == bounced.period
    assert resent.period is not None
    # A resend is not an occurrence: only the nudge counts.
    assert result.occurrences_sent == 1


async def test_a_resend_that_bounces_again_is_recorded_and_the_reminder_carries_on(
    box: Outbox,
) -> None:
    box.smtp.reject_recipient(BOB_EMAIL, 550, BOUNCE)
    async with worker(box):
        row, handle, bounced = await _bounced_nudge(box)
        await _resend(handle, bounced)
        _, resent = await _wait_for_rows(box, row, 2)
        box.smtp.reset()
        await handle.result()  # the due date's occurrence still fires

    assert (resent.status, resent.error_code, resent.resend_of) == (
        "failed",
        "smtp_550",
        bounced.id,
    )
    [message] = box.smtp.messages  # the due date's
    assert message.message["To"] == BOB_EMAIL
    rows = await box.deliveries(row)
    assert [(d.status, d.resend_of) for d in rows] == [
        ("failed", None),
        ("failed", bounced.id),
        ("sent", None),
    ]


async def test_a_once_reminder_that_fired_and_bounced_is_resent_once_and_stays_completed(
    box: Outbox,
) -> None:
    async with worker(box):
        row, bounced = await _fired_and_bounced(box)
        assert (row.status, row.occurrences_sent) == ("completed", 1)
        key = await _resend_after_end(box, row, bounced)
        # The handle without a run id follows the latest run: the resend's own.
        result = await box.client.get_workflow_handle_for(
            ReminderWorkflow.run, row.workflow_id
        ).result()
        original, resent = await _wait_for_rows(box, row, 2)

    [message] = box.smtp.messages
    assert message.message["To"] == BOB_EMAIL
    assert "please send your VAT documents" in message.text
    assert (original.id, original.status, original.resend_of) == (bounced.id, "failed", None)
    assert (resent.occurrence_key, resent.resend_of, resent.status) == (key, bounced.id, "sent")
    # The run started completed and ended so; a resend is not an occurrence.
    assert (result.state, result.occurrences_sent) == ("completed", 1)
    stored = await _stored(box, row)
    assert (stored.status, stored.occurrences_sent, stored.next_fire_at) == ("completed", 1, None)
    assert stored.last_fired_at == row.last_fired_at
    # This server cannot list executions (no visibility): the history then reads the
    # resend's run alone rather than fail.
    [run] = await fetch_runs(box.client, row.workflow_id)
    started = run[0].workflow_execution_started_event_attributes
    assert json.loads(started.input.payloads[0].data)["state"] == "completed"


async def test_two_resend_requests_after_the_end_are_two_attempts(box: Outbox) -> None:
    async with worker(box):
        row, bounced = await _fired_and_bounced(box)
        # The second comes while the first's run may still be sending: it joins that run
        # or starts one of its own; either way each request is one attempt.
        keys = {await _resend_after_end(box, row, bounced) for _ in range(2)}
        rows = await _wait_for_rows(box, row, 3)

    assert len(box.smtp.messages) == 2
    assert {(d.occurrence_key, d.resend_of, d.status) for d in rows[1:]} == {
        (key, bounced.id, "sent") for key in keys
    }
    assert (await _stored(box, row)).status == "completed"
