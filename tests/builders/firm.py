"""A firm on the whole stack: the API (an app of its own) and a worker on Temporal's
time-skipping server, sending through a real SMTP server and a local Twilio on loopback.
For tests that drive reminders through the API and watch what clients receive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

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


@asynccontextmanager
async def firm_on(env: Any, settings: Settings) -> AsyncIterator[Firm]:
    """Ledger Accounting, registered through the API, its app and a worker on `env`."""
    queue = f"firm-{uuid.uuid4().hex[:8]}"
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
