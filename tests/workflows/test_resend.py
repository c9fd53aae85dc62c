"""Resending a delivery (`POST /notifications/{id}/resend` signals `resend`): on the
time-skipping server with the real SMTP provider and a real SMTP server, what the client
and the business notice: the message that arrives, and the delivery rows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from core.models import Delivery, Reminder
from tests.conftest import eventually
from tests.workflows.test_delivery import BOB_EMAIL, Outbox, box, worker
from workflows.contracts import ResendArgs, SignalArgs
from workflows.reminder import ReminderWorkflow

__all__ = ["box"]  # the fixture, shared with test_delivery

BOUNCE = "5.1.1 Mailbox unavailable"


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


async def _resend(handle: WorkflowHandle[Any, Any], delivery: Delivery) -> str:
    request_id = str(uuid.uuid4())
    args = ResendArgs(
        delivery_id=str(delivery.id),
        client_id=str(delivery.client_id),
        channel=delivery.channel,
        request_id=request_id,
        by="ann@annandco.example.com",
    )
    await handle.signal(ReminderWorkflow.resend, args)
    return f"resend-{request_id}"


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
