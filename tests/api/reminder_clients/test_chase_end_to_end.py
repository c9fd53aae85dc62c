"""Chasing each client until done, end to end: a quarterly VAT series to a tag of clients,
created and answered through the API, run by a real worker on Temporal's time-skipping
server (a quarter passes in milliseconds), sent to a real SMTP server. What is asserted is
what the firm and its clients notice: which emails arrive, for which quarter, and what the
reminder's client list says."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from channels import build_providers
from core.settings import Settings
from tests.builders.delivery import delivery_settings
from tests.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    Tenant,
    app_client,
    build_worker,
    register_tenant,
)
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio

DONE_LINK = re.compile(r"https?://\S+/api/v1/done/[A-Za-z0-9_-]+")
BODY = "Hi {{ client.name }}, please send your VAT documents: {{ done_url }}"


@dataclass
class Firm:
    http: httpx.AsyncClient
    owner: Tenant
    env: Any
    smtp: FakeSmtpServer
    twilio: FakeTwilio

    @property
    def headers(self) -> dict[str, str]:
        return self.owner.headers

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(UTC)

    async def sleep_until(self, at: datetime) -> None:
        await self.env.sleep(at - await self.now())

    async def add_client(self, name: str, **fields: Any) -> str:
        response = await self.http.post(
            "/api/v1/clients",
            json={"name": name, "email": f"{name.lower()}@example.com", "tags": ["vat"], **fields},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def inbox(self, name: str) -> list[str]:
        address = f"{name.lower()}@example.com"
        return [m.text for m in self.smtp.messages if address in m.rcpt_tos]

    async def states(self, reminder_id: str, **params: str) -> dict[str, dict[str, Any]]:
        response = await self.http.get(
            f"/api/v1/reminders/{reminder_id}/clients", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return {item["name"]: item for item in response.json()["items"]}


@pytest.fixture
async def firm(temporal_time_skipping: Any, settings: Settings) -> AsyncIterator[Firm]:
    env = temporal_time_skipping
    queue = f"chase-{uuid.uuid4().hex[:8]}"
    async with FakeSmtpServer() as smtp, FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as twilio:
        wired = delivery_settings(settings, smtp, twilio).model_copy(
            update={"TEMPORAL_TASK_QUEUE": queue, "DEFAULT_FROM_EMAIL": "robot@platform.example"}
        )
        async with app_client(wired) as http:
            http.app.state.temporal.set_client(env.client)  # type: ignore[attr-defined]
            providers = build_providers(wired)
            sessionmaker = http.app.state.sessionmaker  # type: ignore[attr-defined]
            try:
                async with build_worker(env.client, wired, queue, sessionmaker, providers):
                    owner = await register_tenant(http, "Ledger")
                    yield Firm(http, owner, env, smtp, twilio)
            finally:
                for provider in providers.values():
                    await provider.close()


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


async def test_each_client_is_chased_until_done_quarter_by_quarter(firm: Firm) -> None:
    names = ["Ada", "Dora"]
    ids = {name: await firm.add_client(name) for name in names}
    due = (await firm.now() + timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
    response = await firm.http.post(
        "/api/v1/reminders",
        json={
            "title": "Q3 VAT documents",
            "type": "document_request",
            "tag": "vat",
            "channels": ["email"],
            "subject": "Your VAT documents",
            "body": BODY,
            "timezone": "UTC",
            "schedule": quarterly(due),
            "escalate_after": 4,
        },
        headers=firm.headers,
    )
    assert response.status_code == 201, response.text
    reminder = response.json()
    assert reminder["escalate_after"] == 4

    # A week and a day before the due date: two messages each, each with the client's link.
    await firm.sleep_until(due - timedelta(hours=23))
    assert {name: len(firm.inbox(name)) for name in names} == {"Ada": 2, "Dora": 2}
    links = {name: DONE_LINK.findall(firm.inbox(name)[-1]) for name in names}
    assert all(len(found) == 1 for found in links.values())
    assert links["Ada"] != links["Dora"]
    states = await firm.states(reminder["id"])
    assert {name: s["state"] for name, s in states.items()} == {
        "Ada": "outstanding",
        "Dora": "outstanding",
    }

    # Staff mark Ada done; Dora never answers.
    marked = await firm.http.post(
        f"/api/v1/reminders/{reminder['id']}/clients/{ids['Ada']}/done",
        json={"note": "Documents came by post"},
        headers=firm.headers,
    )
    assert marked.status_code == 200, marked.text
    assert (marked.json()["state"], marked.json()["done_source"]) == ("done", "staff")

    # Past the quarter's last chase: Ada heard nothing more, Dora was chased to the end.
    await firm.sleep_until(due + timedelta(days=10))
    assert {name: len(firm.inbox(name)) for name in names} == {"Ada": 2, "Dora": 6}
    states = await firm.states(reminder["id"])
    assert states["Ada"]["state"] == "done"
    assert states["Ada"]["note"] == "Documents came by post"
    assert states["Dora"]["state"] == "outstanding"
    assert states["Dora"]["sends"] == 6
    assert states["Dora"]["escalated_at"] is not None
    # The owner was told about Dora once, after her fourth message, not about Ada.
    told = [m for m in firm.smtp.messages if firm.owner.email in m.rcpt_tos]
    assert len(told) == 1
    assert "Dora" in told[0].message["Subject"]
    assert "Q3 VAT documents" in told[0].text

    # The next quarter starts outstanding for everyone, Ada included.
    await firm.sleep_until(due + timedelta(days=92 + 10))
    read = await firm.http.get(f"/api/v1/reminders/{reminder['id']}", headers=firm.headers)
    assert read.json()["status"] == "completed"
    assert {name: len(firm.inbox(name)) for name in names} == {"Ada": 8, "Dora": 12}
    told = [m for m in firm.smtp.messages if firm.owner.email in m.rcpt_tos]
    assert len(told) == 3  # Dora, then both of them in the second quarter
    second = await firm.states(reminder["id"])
    first = await firm.states(reminder["id"], period=states["Ada"]["period"])
    assert second["Ada"]["period"] != first["Ada"]["period"]
    assert (first["Ada"]["state"], second["Ada"]["state"]) == ("done", "outstanding")
