"""Chasing each client until done, end to end: a quarterly VAT series to a tag of clients,
created and answered through the API, run by a real worker on Temporal's time-skipping
server (a quarter passes in milliseconds), sent to a real SMTP server. What is asserted is
what the firm and its clients notice: which emails arrive, for which quarter, and what the
reminder's client list says."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from core.settings import Settings
from tests.api.done.links import PDF
from tests.builders.firm import Firm, firm_on
from tests.builders.twilio import TWILIO_INBOUND_URL, add_sender, inbound_params, post_signed
from tests.conftest import (
    register_tenant,
)

FIRM_NUMBER = "+447400123456"
CYRIL = "+447911000333"
DONE_LINK = re.compile(r"https?://\S+/api/v1/done/[A-Za-z0-9_-]+")
BODY = "Hi {{ client.name }}, please send your VAT documents: {{ done_url }}"


@dataclass
class Chase(Firm):
    """The firm, and what its four clients and its owner received."""

    def sent(self) -> dict[str, int]:
        """Messages each client received: emails, and Cyril's texts."""
        texts = sum(1 for m in self.twilio.messages if m.to == CYRIL)
        counts = {name: len(self.inbox(name)) for name in ("Ada", "Bea", "Dora")}
        return {**counts, "Cyril": texts}

    def told(self) -> list[Any]:
        """The escalation emails the owner received."""
        return [m for m in self.smtp.messages if self.owner.email in m.rcpt_tos]

    async def states(self, reminder_id: str, **params: str) -> dict[str, dict[str, Any]]:
        response = await self.http.get(
            f"/api/v1/reminders/{reminder_id}/clients", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return {item["name"]: item for item in response.json()["items"]}


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Chase]:
    async with firm_on(temporal_time_skipping, settings) as firm:
        yield Chase(firm.http, firm.owner, firm.env, firm.smtp, firm.twilio)


def quarterly(start: datetime) -> dict[str, Any]:
    return {
        "kind": "deadline_series",
        "rrule": "FREQ=MONTHLY;INTERVAL=3",
        "start": start.isoformat(),
        "offsets": ["-P7D", "-P1D", "PT0S"],
        "chase_every": "P3D",
        "chase_until": "P9D",
        "count": 2,
    }


async def create_series(firm: Chase, due: datetime) -> dict[str, Any]:
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Q3 VAT documents",
            "type": "document_request",
            "tag": "vat",
            "subject": "Your VAT documents",
            "body": BODY,
            "timezone": "UTC",
            "schedule": quarterly(due),
            "escalate_after": 4,
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def confirm_by_link(firm: Chase, link: str) -> None:
    """What Bea does: open her link, then confirm with a note and her PDF."""
    path = "/api/v1/done/" + link.rsplit("/", 1)[1]
    page = await firm.http.get(path)
    assert page.status_code == 200
    assert "Ledger Accounting" in page.text
    assert "Q3 VAT documents" in page.text
    sent = await firm.http.post(
        path,
        data={"note": "Q3 receipts attached"},
        files=[("files", ("receipts.pdf", PDF, "application/pdf"))],
    )
    assert sent.status_code == 200, sent.text


async def text_done(firm: Chase, phone: str) -> str | None:
    """What Cyril does: reply DONE to the firm's number."""
    params = inbound_params("Done, all sent", to=FIRM_NUMBER, sender=phone)
    response = await post_signed(firm.http, TWILIO_INBOUND_URL, params)
    assert response.status_code == 200, response.text
    reply = ElementTree.fromstring(response.text).find("Message")
    return reply.text if reply is not None else None


async def test_each_client_is_chased_until_done_quarter_by_quarter(firm: Chase) -> None:
    await add_sender(firm.http, firm.owner, "sms", FIRM_NUMBER, verified_in=firm.http.app)
    ids = {name: await firm.add_client(name) for name in ("Ada", "Bea", "Dora")}
    ids["Cyril"] = await firm.add_client("Cyril", phone=CYRIL, preferred_channels=["sms"])
    due = (await firm.now() + timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
    reminder = await create_series(firm, due)
    assert reminder["escalate_after"] == 4

    # A week and a day before the due date: two messages each, each with the client's link.
    await firm.sleep_until(due - timedelta(hours=23))
    assert firm.sent() == {"Ada": 2, "Bea": 2, "Cyril": 2, "Dora": 2}
    states = await firm.states(reminder["id"])
    assert {s["state"] for s in states.values()} == {"outstanding"}

    # Staff mark Ada done; Bea confirms through her link with a PDF; Cyril texts DONE;
    # Dora never answers.
    marked = await firm.http.post(
        f"/api/v1/reminders/{reminder['id']}/clients/{ids['Ada']}/done",
        json={"note": "Documents came by post"},
        headers=firm.headers,
    )
    assert marked.status_code == 200, marked.text
    assert (marked.json()["state"], marked.json()["done_source"]) == ("done", "staff")
    (bea_link,) = DONE_LINK.findall(firm.inbox("Bea")[-1])
    await confirm_by_link(firm, bea_link)
    reply = await text_done(firm, CYRIL)
    assert reply == "Thanks, Ledger Accounting has been told you're done with Q3 VAT documents."

    # Past the quarter's last chase: only Dora was chased to the end.
    await firm.sleep_until(due + timedelta(days=10))
    assert firm.sent() == {"Ada": 2, "Bea": 2, "Cyril": 2, "Dora": 6}
    states = await firm.states(reminder["id"])
    assert {name: (s["state"], s["done_source"]) for name, s in states.items()} == {
        "Ada": ("done", "staff"),
        "Bea": ("done", "client"),
        "Cyril": ("done", "sms"),
        "Dora": ("outstanding", None),
    }
    assert states["Ada"]["note"] == "Documents came by post"
    assert states["Bea"]["note"] == "Q3 receipts attached"
    assert states["Dora"]["sends"] == 6
    assert states["Dora"]["escalated_at"] is not None
    assert [s["escalated_at"] for n, s in states.items() if n != "Dora"] == [None] * 3
    # Bea's PDF: staff get the same bytes; another firm gets nothing.
    (document,) = states["Bea"]["documents"]
    url = f"/api/v1/reminders/{reminder['id']}/clients/{ids['Bea']}/documents/{document['id']}"
    download = await firm.http.get(url, headers=firm.headers)
    assert download.status_code == 200
    assert download.content == PDF
    rival = await register_tenant(firm.http, "Rival")
    assert (await firm.http.get(url, headers=rival.headers)).status_code == 404
    # The owner was told about Dora once, after her fourth message, and about nobody else.
    (told,) = firm.told()
    assert "Dora" in told.message["Subject"]
    assert "Q3 VAT documents" in told.text

    # The next quarter starts outstanding for everyone: nobody answers, all are chased.
    await firm.sleep_until(due + timedelta(days=92 + 10))
    read = await firm.http.get(f"/api/v1/reminders/{reminder['id']}", headers=firm.headers)
    assert read.json()["status"] == "completed"
    assert firm.sent() == {"Ada": 8, "Bea": 8, "Cyril": 8, "Dora": 12}
    assert len(firm.told()) == 1 + 4
    second = await firm.states(reminder["id"])
    first = await firm.states(reminder["id"], period=states["Ada"]["period"])
    assert second["Ada"]["period"] > first["Ada"]["period"]
    assert {s["state"] for s in second.values()} == {"outstanding"}
    assert {name: s["state"] for name, s in first.items()}["Bea"] == "done"
