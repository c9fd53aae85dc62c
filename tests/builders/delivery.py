"""Delivery through the real providers on the time-skipping server; recorded workflow histories; processes."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from channels import build_providers
from channels.providers import Provider
from core.models import Business, Delivery, Reminder, SenderIdentity
from core.models import Client as ClientRow
from core.settings import Settings
from tests.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    build_worker,
)
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.seed import (
    BOB,
    LONDON,
    Seeded,
    add_reminder,
    deliveries_of,
    reminder_input,
    seeded_business,
)
from workflows.contracts import workflow_id_for
from workflows.reminder import ReminderWorkflow

# -- delivery through the real providers on the time-skipping server -----------------------

BOB_EMAIL = BOB["email"]
FIRM_NUMBER = "+15005550006"  # the outbox business's SMS and WhatsApp sender


@dataclass
class Outbox(Seeded):
    """A seeded business whose reminders run on the time-skipping server (`env`) and send
    to a real SMTP server and a local Twilio."""

    env: Any
    client: Client
    settings: Settings
    task_queue: str
    smtp: FakeSmtpServer
    twilio: FakeTwilio

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(UTC)

    async def reminder(
        self,
        schedule: dict[str, Any] | None = None,
        channels: tuple[str, ...] = ("email",),
        **fields: Any,
    ) -> Reminder:
        if schedule is None:
            schedule = {"kind": "once", "at": (await self.now() + timedelta(hours=1)).isoformat()}
        return await add_reminder(
            self,
            schedule,
            channels=channels,
            subject=fields.pop("subject", "Your VAT return"),
            body=fields.pop("body", "Hi {{ client.name }}, please send your VAT documents."),
            **fields,
        )

    async def start(self, row: Reminder, request_id: str | None = None) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            ReminderWorkflow.run,
            reminder_input(row, request_id=request_id),
            id=row.workflow_id,
            task_queue=self.task_queue,
        )

    async def run(self, row: Reminder) -> None:
        await (await self.start(row)).result()

    async def deliveries(self, row: Reminder) -> list[Delivery]:
        return await deliveries_of(self, row)

    async def update_business(self, **fields: Any) -> None:
        async with self.sessionmaker() as session:
            business = await session.get(Business, self.business_id)
            assert business is not None
            for name, value in fields.items():
                setattr(business, name, value)
            await session.commit()

    async def update_client(self, **fields: Any) -> None:
        async with self.sessionmaker() as session:
            client = await session.get(ClientRow, self.client_id)
            assert client is not None
            for name, value in fields.items():
                setattr(client, name, value)
            await session.commit()

    async def stored_client(self) -> ClientRow:
        async with self.sessionmaker() as session:
            client = await session.get(ClientRow, self.client_id)
            assert client is not None
            return client


def delivery_settings(settings: Settings, smtp: FakeSmtpServer, twilio: FakeTwilio) -> Settings:
    return settings.model_copy(
        update={
            **smtp.smtp_settings(),
            "EMAIL_BACKEND": "smtp",
            "SMS_BACKEND": "twilio",
            "WHATSAPP_BACKEND": "twilio",
            "TWILIO_API_BASE_URL": twilio.url,
            "SMTP_TIMEOUT_SECONDS": 5.0,
            # A retry looks for a lost SMS this long (and a third more) after its claim.
            "TWILIO_TIMEOUT_SECONDS": 1.5,
        }
    )


@asynccontextmanager
async def outbox(
    temporal_time_skipping: Any, settings: Settings, database_url: str
) -> AsyncIterator[Outbox]:
    """Ann & Co (an email, SMS and WhatsApp sender of its own) with Bob as its client, a real
    SMTP server and a local Twilio, on Temporal's time-skipping server: each test module's
    `box` fixture."""

    def sender(channel: str, **fields: Any) -> Callable[[uuid.UUID], SenderIdentity]:
        return lambda business_id: SenderIdentity(
            business_id=business_id, channel=channel, is_default=True, **fields
        )

    async with (
        seeded_business(
            database_url,
            "Ann & Co",
            LONDON,
            sender(
                "email",
                from_email="office@annandco.example.com",
                from_name="Ann & Co Accountants",
                reply_to="ann@annandco.example.com",
            ),
            sender("sms", from_number=FIRM_NUMBER),
            sender("whatsapp", from_number=FIRM_NUMBER),
        ) as seed,
        FakeSmtpServer() as smtp,
        FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as twilio,
    ):
        yield Outbox(
            env=temporal_time_skipping,
            client=temporal_time_skipping.client,
            settings=delivery_settings(settings, smtp, twilio),
            sessionmaker=seed.sessionmaker,
            task_queue=f"delivery-{uuid.uuid4().hex[:8]}",
            business_id=seed.business_id,
            client_id=seed.client_id,
            smtp=smtp,
            twilio=twilio,
        )


@asynccontextmanager
async def worker(box: Outbox, limiter: Any = None, **replace: Provider) -> AsyncIterator[None]:
    """A worker with the real providers (or the given replacements), closed afterwards."""
    providers = {**build_providers(box.settings), **replace}
    try:
        async with build_worker(
            box.client, box.settings, box.task_queue, box.sessionmaker, providers, limiter
        ):
            yield
    finally:
        for provider in providers.values():
            await provider.close()


# -- recorded workflow histories -----------------------------------------------------------

# What tests/workflows/record_histories.py recorded and the replay tests run. A path only:
# no file system work at import.
HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


def load_history(path: Path) -> WorkflowHistory:
    """The history with its real workflow id, read from the reminder id it was started with."""
    history = WorkflowHistory.from_json("", path.read_text())
    started = history.events[0].workflow_execution_started_event_attributes
    reminder_id = json.loads(started.input.payloads[0].data)["reminder_id"]
    return WorkflowHistory(workflow_id_for(reminder_id), history.events)


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
