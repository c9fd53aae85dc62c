"""A reminder's timeline (`GET /reminders/{id}/history`) shows the replies to its messages
at their times among the workflow's entries: the merge, over real rows and a timeline as
Temporal's history gives it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from api.replies.service import merge_by_time, with_replies
from core.types import utcnow
from tests.builders.rows import add_delivery_row, add_reminder_row
from tests.builders.twilio import (
    TWILIO_INBOUND_URL,
    add_phone_client,
    inbound_params,
    post_signed,
)
from tests.conftest import Tenant
from workflows.history import Entry

NOW = utcnow()


def entry(minutes_ago: int, text: str) -> Entry:
    return Entry(at=NOW - timedelta(minutes=minutes_ago), kind="sent", text=text)


def test_merged_entries_keep_the_timelines_order_and_come_in_at_their_times() -> None:
    first, second, third = entry(30, "a"), entry(20, "b"), entry(20, "c")
    early, tied, late = entry(40, "early"), entry(20, "tied"), entry(0, "late")

    merged = merge_by_time([first, second, third], [early, tied, late])

    assert [e.text for e in merged] == ["early", "a", "b", "c", "tied", "late"]


async def test_the_reminders_timeline_shows_replies_to_its_messages_only(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    customer = await add_phone_client(client, owner)
    reminder = await add_reminder_row(app, owner, client_ids=[customer], channels=["sms"])
    await add_delivery_row(
        app,
        owner,
        reminder,
        created_at=utcnow() - timedelta(hours=1),
        channel="sms",
        client_id=customer,
    )
    other = await add_reminder_row(app, owner, client_ids=[customer], channels=["sms"])
    response = await post_signed(client, TWILIO_INBOUND_URL, inbound_params("Paid it this morning"))
    assert response.status_code == 200, response.text
    sent = entry(60, "Sent by SMS to Alice Jones")

    async with app.state.sessionmaker() as session:
        business = uuid.UUID(owner.business_id)
        timeline = await with_replies(session, business, uuid.UUID(reminder), [sent])
        elsewhere = await with_replies(session, business, uuid.UUID(other), [sent])
        foreign = await with_replies(
            session, uuid.UUID(other_owner.business_id), uuid.UUID(reminder), [sent]
        )

    assert [e.kind for e in timeline] == ["sent", "reply"]
    reply = timeline[1]
    assert reply.text == "Reply from Alice Jones by SMS: Paid it this morning"
    assert reply.details["client_id"] == customer
    assert reply.details["client_name"] == "Alice Jones"
    assert reply.details["read"] is False
    assert elsewhere == foreign == [sent]
