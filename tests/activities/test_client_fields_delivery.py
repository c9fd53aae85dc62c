"""The new client columns in real sends (time-skipping server, a real SMTP server on
loopback): a business's own field in the text of the message, and an inactive client
that gets nothing while an active one on the same reminder does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.client_field_models import ClientField
from core.models import Client as ClientRow
from core.settings import Settings
from tests.builders.delivery import BOB_EMAIL, Outbox, outbox, worker


@pytest.fixture
async def box(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[Outbox]:
    async with outbox(temporal_time_skipping, settings, database_url) as made:
        yield made


async def test_a_client_field_is_in_the_message_and_a_missing_one_is_empty(box: Outbox) -> None:
    async with box.sessionmaker() as session:
        for name, kind in (("vat_number", "text"), ("year_end", "date")):
            session.add(ClientField(business_id=box.business_id, name=name, label=name, type=kind))
        await session.commit()
    await box.update_client(fields={"vat_number": "GB123456789"})
    row = await box.reminder(
        subject="VAT return for {{ client.fields.vat_number }}",
        body="Hi {{ client.name }}, VAT number {{ client.fields.vat_number }}, "
        "year end [{{ client.fields.year_end }}].",
    )
    async with worker(box):
        await box.run(row)

    [message] = box.smtp.messages
    assert message.message["Subject"] == "VAT return for GB123456789"
    assert "Hi Bob Builder, VAT number GB123456789, year end []." in message.text
    assert [d.status for d in await box.deliveries(row)] == ["sent"]


async def test_an_inactive_client_gets_nothing_and_an_active_one_does(box: Outbox) -> None:
    async with box.sessionmaker() as session:
        cat = ClientRow(business_id=box.business_id, name="Cat", email="cat@example.com")
        session.add(cat)
        await session.commit()
        cat_id = cat.id
    await box.update_client(is_active=False)
    row = await box.reminder(client_ids=[str(box.client_id), str(cat_id)])
    async with worker(box):
        await box.run(row)

    assert [m.rcpt_tos for m in box.smtp.messages] == [("cat@example.com",)]
    assert BOB_EMAIL not in str([m.message["To"] for m in box.smtp.messages])
    deliveries = await box.deliveries(row)
    assert [(d.client_id, d.status) for d in deliveries] == [(cat_id, "sent")]
