"""Rows as the API and the worker leave them (no HTTP, no workflow)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from core.models import Business, Delivery, Reminder
from core.settings import Settings
from core.types import utcnow
from tests.conftest import (
    Tenant,
)
from workflows.contracts import WORKFLOW_TYPE, ReminderInput, workflow_id_for

# -- rows as the API and the worker leave them (no HTTP, no workflow) ----------------------

# When add_reminder_row's reminder is due, unless a test says otherwise.
ROW_SCHEDULED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# A day in the month the usage tests bill (add_sent's default).
JULY = datetime(2026, 7, 15, 12, tzinfo=UTC)


async def add_reminder_row(app: Any, tenant: Tenant, **fields: Any) -> str:
    """A reminder row as the API leaves it (its workflow is not needed here)."""
    reminder_id = uuid.uuid4()
    values: dict[str, Any] = {
        "title": "Q3 VAT return",
        "type": "deadline",
        "client_ids": [],
        "channels": ["email"],
        "body": "Hi",
        "timezone": "UTC",
        "schedule": {"kind": "once", "at": ROW_SCHEDULED_AT.isoformat()},
        **fields,
    }
    async with app.state.sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=uuid.UUID(tenant.business_id),
                workflow_id=f"reminder-{reminder_id}",
                **values,
            )
        )
        await session.commit()
    return str(reminder_id)


async def add_delivery_row(
    app: Any,
    tenant: Tenant,
    reminder_id: str,
    *,
    created_at: datetime,
    status: str = "delivered",
    channel: str = "email",
    client_id: str | None = None,
) -> str:
    delivery_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            Delivery(
                id=delivery_id,
                business_id=uuid.UUID(tenant.business_id),
                reminder_id=uuid.UUID(reminder_id),
                client_id=uuid.UUID(client_id) if client_id else None,
                channel=channel,
                occurrence_key=uuid.uuid4().hex,
                status=status,
                attempts=1,
                created_at=created_at,
            )
        )
        await session.commit()
    return str(delivery_id)


async def add_sent(
    app: Any,
    tenant: Tenant,
    reminder_id: str,
    *,
    at: datetime = JULY,
    channel: str = "email",
    status: str = "delivered",
    accepted: bool = True,
    segments: int | None = None,
) -> None:
    """A delivery row as the worker leaves it; `accepted`: the provider gave it an id."""
    async with app.state.sessionmaker() as session:
        session.add(
            Delivery(
                business_id=uuid.UUID(tenant.business_id),
                reminder_id=uuid.UUID(reminder_id),
                channel=channel,
                occurrence_key=uuid.uuid4().hex,
                status=status,
                attempts=1,
                provider_message_id=f"SM{uuid.uuid4().hex}" if accepted else None,
                segments=segments,
                created_at=at - timedelta(seconds=5),
                sent_at=at if accepted else None,
            )
        )
        await session.commit()


async def add_business_to(sessionmaker: Any) -> uuid.UUID:
    async with sessionmaker() as session:
        business = Business(name="Acme Accounting", timezone="UTC")
        session.add(business)
        await session.commit()
        return business.id


def in_days(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


async def add_reminder_to(
    sessionmaker: Any, business_id: uuid.UUID, status: str = "scheduled", **values: Any
) -> str:
    reminder_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "title": "Q3 VAT return",
        "type": "deadline",
        "client_ids": [str(uuid.uuid4())],
        "channels": ["email"],
        "body": "Hi {{ client.name }}",
        "timezone": "UTC",
        "schedule": {"kind": "once", "at": in_days(30).isoformat()},
        "next_fire_at": in_days(30),
        # Older than the settle time: a row the API might be starting right now is skipped.
        "created_at": utcnow() - timedelta(hours=1),
        **values,
    }
    async with sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=business_id,
                status=status,
                workflow_id=workflow_id_for(str(reminder_id)),
                **fields,
            )
        )
        await session.commit()
    return str(reminder_id)


async def start_directly(
    client: Client, settings: Settings, reminder_id: str, business_id: uuid.UUID, **input: Any
) -> WorkflowHandle[Any, Any]:
    data = ReminderInput(
        reminder_id=reminder_id,
        business_id=str(business_id),
        schedule=input.pop("schedule", {"kind": "once", "at": in_days(30).isoformat()}),
        timezone="UTC",
        **input,
    )
    return await client.start_workflow(
        WORKFLOW_TYPE,
        data,
        id=workflow_id_for(reminder_id),
        task_queue=settings.TEMPORAL_TASK_QUEUE,
    )
