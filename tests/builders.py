"""Builders the tests share: the rows, requests, apps and worlds more than one test module
starts from. Test modules import them from here, never from one another; fixtures stay in
the conftest.py files (tests/conftest.py: the app, the database, tenants, Temporal).

tests/seed.py seeds a business straight into the tables for the workflow tests; the local
SMTP and Twilio servers are in tests/fakes.
"""

from __future__ import annotations

import json
import random
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select, text
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from twilio.request_validator import RequestValidator

from channels import build_providers
from channels.providers import Provider
from core.crypto import encrypt
from core.models import Business, Delivery, Reminder, SenderIdentity, TwilioCredentials
from core.models import Client as ClientRow
from core.settings import Settings
from core.types import utcnow
from core.unsubscribe import unsubscribe_url
from tests.conftest import (
    PASSWORD,
    PUBLIC_BASE_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    Tenant,
    add_member,
    build_worker,
    eventually,
    register_tenant,
    superuser_headers,
)
from tests.fakes.smtp import FakeSmtpServer, unused_port
from tests.fakes.twilio_api import FakeTwilio, sign
from tests.seed import (
    BOB,
    LONDON,
    Seeded,
    add_reminder,
    deliveries_of,
    reminder_input,
    seeded_business,
)
from workflows.contracts import WORKFLOW_TYPE, ReminderInput, workflow_id_for
from workflows.reminder import ReminderWorkflow

# -- clients and reminders through the API (a reminder made by POST /reminders) ------------

REMINDERS_URL = "/api/v1/reminders"
REMINDER_TEXT = "Hi {{ client.name }}, your {{ reminder.title }} is due."


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def once(seconds: float) -> dict[str, Any]:
    return {"kind": "once", "at": soon(seconds)}


async def add_client(
    http: httpx.AsyncClient, tenant: Tenant, name: str = "Alice Jones", **fields: Any
) -> str:
    payload = {"name": name, "email": f"{uuid.uuid4().hex[:8]}@client.example.com", **fields}
    response = await http.post("/api/v1/clients", headers=tenant.headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def reminder_body(client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "VAT return",
        "type": "deadline",
        "channels": ["email"],
        "body": REMINDER_TEXT,
        "schedule": once(3600),
    }
    if client_id is not None:
        body["client_ids"] = [client_id]
    body.update(overrides)
    return body


async def create_reminder(
    http: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    response = await http.post(REMINDERS_URL, headers={**tenant.headers, **headers}, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def reminder_deliveries(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str
) -> list[Any]:
    response = await http.get(f"{REMINDERS_URL}/{reminder_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def wait_for_delivery(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        found[:] = [
            d for d in await reminder_deliveries(http, tenant, reminder_id) if d["status"] == status
        ]
        return bool(found)

    await eventually(check, timeout=timeout, interval=0.2)
    return found[0]


async def get_reminder(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, **params: Any
) -> dict[str, Any]:
    response = await http.get(
        f"{REMINDERS_URL}/{reminder_id}", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for_status(
    http: httpx.AsyncClient, tenant: Tenant, reminder_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update(await get_reminder(http, tenant, reminder_id))
        return bool(seen["status"] == status)

    await eventually(check, timeout=timeout, interval=0.2)
    return seen


async def settled(temporal_dev: Any, reminder: dict[str, Any]) -> None:
    """Wait until the workflow sleeps on its timer, its start-up bookkeeping done.

    A `sync_reminder` still running when the API changes the row's status can write the
    old status back for a moment (the workflow then writes the new one); tests that read
    the row's status right after a signal wait for this first.
    """
    handle = temporal_dev.client.get_workflow_handle(reminder["workflow_id"])

    async def sleeping() -> bool:
        events = (await handle.fetch_history()).events
        return events[-1].WhichOneof("attributes") == "timer_started_event_attributes"

    await eventually(sleeping, timeout=10, interval=0.1)


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


# -- apps of their own, called from an address of their own (limits and throttles) ---------

TOKEN_URL = "/api/v1/auth/token"
WRONG_PASSWORD = "Wrong-Horse-8"


def new_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@asynccontextmanager
async def built_app(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    """An app of its own with these settings; its engine and Redis clients closed after."""
    from api.main import create_app

    app = create_app(settings.model_copy(update=overrides))
    try:
        yield app
    finally:
        await app.state.engine.dispose()
        if app.state.redis is not None:
            await app.state.redis.aclose()
        await app.state.throttle.close()
        app.state.passwords.close()


@asynccontextmanager
async def http_from(app: Any, ip: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` calling from `ip` (a fresh address by default)."""
    transport = httpx.ASGITransport(app=app, client=(ip or new_ip(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post(TOKEN_URL, data={"username": email, "password": password})


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["Retry-After"])
    assert value >= 1
    return value


async def add_tagged_clients(http: httpx.AsyncClient, owner: Tenant, tag: str, count: int) -> None:
    for n in range(count):
        response = await http.post(
            "/api/v1/clients",
            headers=owner.headers,
            json={"name": f"Client {n}", "email": f"c{n}@example.com", "tags": [tag]},
        )
        assert response.status_code == 201, response.text


def document_request(schedule: dict[str, Any], **audience: Any) -> dict[str, Any]:
    return {
        "title": "VAT documents",
        "type": "document_request",
        "channels": ["email"],
        "body": "Hi {{ client.name }}, please send your documents.",
        "schedule": schedule,
        **audience,
    }


# -- sender identities and their one-time codes --------------------------------------------

SENDER_IDENTITIES_URL = "/api/v1/sender-identities"
OFFICE_EMAIL = "office@acme.example.com"
IDENTITY_NUMBER = "+447911000555"
PLATFORM_NUMBER = "+15005550006"
PLATFORM_EMAIL = "reminders@platform.example.com"


async def add_identity(http: httpx.AsyncClient, tenant: Tenant, **body: Any) -> str:
    body = body or {"channel": "email", "from_email": OFFICE_EMAIL}
    response = await http.post(SENDER_IDENTITIES_URL, headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def verify_identity(
    http: httpx.AsyncClient, tenant: Tenant, identity_id: str
) -> httpx.Response:
    return await http.post(f"{SENDER_IDENTITIES_URL}/{identity_id}/verify", headers=tenant.headers)


# -- Twilio's webhooks, signed as Twilio signs them ----------------------------------------

TWILIO_STATUS_URL = "/api/v1/webhooks/twilio/status"
TWILIO_INBOUND_URL = "/api/v1/webhooks/twilio/inbound"
CLIENTS_URL = "/api/v1/clients"
SHARED_NUMBER = "+15005550006"  # the platform's own number: no business's identity
CLIENT_PHONE = "+447911123456"


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def twilio_signature(url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(TWILIO_TOKEN).compute_signature(url, params))


async def post_signed(
    http: httpx.AsyncClient, path: str, params: dict[str, str], **headers: str
) -> httpx.Response:
    """What Twilio sends: the form, signed over the public URL (path and query) and it."""
    sign = {"X-Twilio-Signature": twilio_signature(PUBLIC_BASE_URL + path, params)}
    return await http.post(path, data=params, headers={**sign, **headers})


async def add_phone_client(http: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    payload = {"name": "Alice Jones", "phone": CLIENT_PHONE, **fields}
    response = await http.post(CLIENTS_URL, headers=tenant.headers, json=payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def opted_out(http: httpx.AsyncClient, tenant: Tenant, client_id: str) -> list[str]:
    response = await http.get(f"{CLIENTS_URL}/{client_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["opted_out_channels"])


async def add_sender(
    http: httpx.AsyncClient, tenant: Tenant, channel: str, number: str, *, verified_in: Any = None
) -> None:
    """A sender identity for the number; proven (as its one-time code would) when the app
    to mark it in is given: only a verified identity claims the number's inbound STOPs."""
    response = await http.post(
        "/api/v1/sender-identities",
        headers=tenant.headers,
        json={"channel": channel, "from_number": number},
    )
    assert response.status_code == 201, response.text
    if verified_in is not None:
        async with verified_in.state.sessionmaker() as session:
            identity = await session.get(SenderIdentity, uuid.UUID(response.json()["id"]))
            assert identity is not None
            identity.verified_at = utcnow()
            await session.commit()


async def add_sms_delivery(
    app: Any, tenant: Tenant, client_id: str, *, status: str = "sent", **fields: Any
) -> tuple[str, str]:
    """A reminder row and one of its deliveries, as the worker leaves them; their ids."""
    business_id = uuid.UUID(tenant.business_id)
    reminder_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            Reminder(
                id=reminder_id,
                business_id=business_id,
                title="Q3 VAT return",
                type="deadline",
                client_ids=[client_id],
                channels=["sms"],
                body="Hi {{ client.name }}",
                timezone="UTC",
                schedule={"kind": "once", "at": utcnow().isoformat()},
                workflow_id=f"reminder-{reminder_id}",
            )
        )
        await session.flush()
        values: dict[str, Any] = {"channel": "sms", "to_address": CLIENT_PHONE, **fields}
        if status in ("sent", "delivered"):
            values.setdefault("sent_at", utcnow())
        session.add(
            Delivery(
                id=delivery_id,
                business_id=business_id,
                reminder_id=reminder_id,
                client_id=uuid.UUID(client_id),
                occurrence_key="2026-01-01T09:00:00Z",
                status=status,
                attempts=1,
                **values,
            )
        )
        await session.commit()
    return str(reminder_id), str(delivery_id)


async def delivery_of(http: httpx.AsyncClient, tenant: Tenant, reminder_id: str) -> dict[str, Any]:
    """The reminder's one delivery, as its owner sees it."""
    response = await http.get(f"/api/v1/reminders/{reminder_id}/deliveries", headers=tenant.headers)
    assert response.status_code == 200, response.text
    (delivery,) = response.json()["items"]
    return dict(delivery)


async def app_events(app: Any, action: str) -> list[tuple[str, str]]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT subject_id, payload FROM app_events WHERE action = :a"), {"a": action}
        )
        return [(row[0], row[1]) for row in rows]


def status_params(message_sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "0" * 32,
        "To": CLIENT_PHONE,
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def inbound_params(
    body: str, to: str = SHARED_NUMBER, sender: str = CLIENT_PHONE
) -> dict[str, str]:
    return {
        "MessageSid": sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
    }


async def stored_twilio_credentials(app: Any, business_id: str) -> TwilioCredentials | None:
    async with app.state.sessionmaker() as session:
        stmt = select(TwilioCredentials).where(
            TwilioCredentials.business_id == uuid.UUID(business_id)
        )
        return (await session.scalars(stmt)).one_or_none()


async def post_signed_by(
    http: httpx.AsyncClient, token: str, path: str, params: dict[str, str]
) -> httpx.Response:
    headers = {"X-Twilio-Signature": sign(token, PUBLIC_BASE_URL + path, params)}
    return await http.post(path, data=params, headers=headers)


# -- client imports and unsubscribe links --------------------------------------------------

CLIENTS_IMPORT_URL = "/api/v1/clients/import"


async def upload_clients_csv(
    http: httpx.AsyncClient, tenant: Tenant, content: str | bytes, filename: str = "clients.csv"
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await http.post(
        CLIENTS_IMPORT_URL, headers=tenant.headers, files={"file": (filename, data, "text/csv")}
    )


def unsubscribe_link(settings: Settings, client_id: str, channel: str = "email") -> str:
    """The link's path, as the app sees it behind the proxy."""
    url = unsubscribe_url(settings, uuid.UUID(client_id), channel)
    return url.removeprefix(PUBLIC_BASE_URL)


# -- route access (tests/api/security): every route's rule, business A with one of everything

# The password of A's email configuration (never in any answer:
# tests/api/security/test_leaks.py).
EMAIL_CONFIG_PASSWORD = "smtp-config-pass-leak-canary"
# A's and B's Twilio auth tokens (32 hex characters, as Twilio's; never in any answer).
TWILIO_CONFIG_TOKEN = "dec0ded0" * 4
RIVAL_TWILIO_TOKEN = "0ddba11e" * 4
TWILIO_PATH = "/api/v1/business/twilio"
TWILIO_ACCOUNT = "AC" + "ab" * 16

# Who may call a route:
PUBLIC = "public"  # no login: the auth routes themselves
SIGNED = "signed"  # a signature or signed token stands in for a login
USER = "user"  # any signed-in account, business or not: the caller's own account
BUSINESS = "business"  # any member of the business (owner or member)
OWNER_ONLY = "owner-only"  # the business's owners
ADMIN = "admin"  # superusers only

TEMPORAL_DOWN = 503  # an authorized call that needs Temporal, which is not running here


@dataclass(frozen=True)
class Rule:
    category: str
    ok: int  # what an authorized caller gets (with the body below)
    # What B's owner gets on a route without a path id (acting on B, its own business)
    # when that differs from `ok`: a body naming A's objects is refused like unknown ids.
    other: int | None = None


TABLE: dict[tuple[str, str], Rule] = {
    # auth: called with an empty body, so every caller gets the same 422
    ("POST", "/api/v1/auth/register"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/token"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/refresh"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/logout"): Rule(PUBLIC, 422),
    ("POST", "/api/v1/auth/password-reset"): Rule(PUBLIC, 422),
    # Twilio's callbacks without X-Twilio-Signature, an unsubscribe link that is not signed
    ("POST", "/api/v1/webhooks/twilio/status"): Rule(SIGNED, 403),
    ("POST", "/api/v1/webhooks/twilio/inbound"): Rule(SIGNED, 403),
    ("GET", "/api/v1/unsubscribe/{token}"): Rule(SIGNED, 404),
    ("POST", "/api/v1/unsubscribe/{token}"): Rule(SIGNED, 404),
    # the caller's own account
    ("GET", "/api/v1/users/me"): Rule(USER, 200),
    ("PATCH", "/api/v1/users/me"): Rule(USER, 200),
    # business and staff
    ("GET", "/api/v1/business"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/business"): Rule(OWNER_ONLY, 200),
    ("GET", "/api/v1/business/members"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/business/members"): Rule(OWNER_ONLY, 201),
    ("DELETE", "/api/v1/business/members/{member_id}"): Rule(OWNER_ONLY, 204),
    # clients
    ("GET", "/api/v1/clients"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/clients"): Rule(BUSINESS, 201),
    ("POST", "/api/v1/clients/import"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/clients/{client_id}"): Rule(BUSINESS, 204),
    # sender identities: staff read them, owners manage them
    ("GET", "/api/v1/sender-identities"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/sender-identities"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/sender-identities/{identity_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/sender-identities/{identity_id}"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/sender-identities/{identity_id}"): Rule(OWNER_ONLY, 204),
    # a code goes out through the (sandbox) provider; a wrong code is a 400
    ("POST", "/api/v1/sender-identities/{identity_id}/verify"): Rule(OWNER_ONLY, 202),
    ("POST", "/api/v1/sender-identities/{identity_id}/confirm"): Rule(OWNER_ONLY, 400),
    # email configurations (the business's SMTP servers): staff read them, owners manage
    # and test them (A's points at a closed port: the test answers 200 with ok: false)
    ("GET", "/api/v1/email-configurations"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/email-configurations"): Rule(OWNER_ONLY, 201),
    ("GET", "/api/v1/email-configurations/{config_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/email-configurations/{config_id}"): Rule(OWNER_ONLY, 200),
    ("DELETE", "/api/v1/email-configurations/{config_id}"): Rule(OWNER_ONLY, 204),
    ("POST", "/api/v1/email-configurations/{config_id}/test"): Rule(OWNER_ONLY, 200),
    # the business's own Twilio account (one per business, no id: B's owner acts on B's;
    # the test reaches no Twilio here, so it answers 200 with ok: false)
    ("GET", TWILIO_PATH): Rule(BUSINESS, 200),
    ("PUT", TWILIO_PATH): Rule(OWNER_ONLY, 200),
    ("DELETE", TWILIO_PATH): Rule(OWNER_ONLY, 204),
    ("POST", f"{TWILIO_PATH}/test"): Rule(OWNER_ONLY, 200),
    # templates
    ("GET", "/api/v1/templates"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/templates"): Rule(BUSINESS, 201),
    ("POST", "/api/v1/templates/preview"): Rule(BUSINESS, 200, other=404),
    ("GET", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/templates/{template_id}"): Rule(BUSINESS, 204),
    # reminders (creating one starts its workflow; signals and history need Temporal)
    ("POST", "/api/v1/reminders"): Rule(BUSINESS, TEMPORAL_DOWN, other=422),
    ("GET", "/api/v1/reminders"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, 200),
    ("PATCH", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, 200),
    ("DELETE", "/api/v1/reminders/{reminder_id}"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/trigger"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/pause"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/resume"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("POST", "/api/v1/reminders/{reminder_id}/complete"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("GET", "/api/v1/reminders/{reminder_id}/deliveries"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/reminders/{reminder_id}/history"): Rule(BUSINESS, TEMPORAL_DOWN),
    # deliveries and figures
    ("GET", "/api/v1/notifications"): Rule(BUSINESS, 200),
    ("POST", "/api/v1/notifications/{delivery_id}/resend"): Rule(BUSINESS, TEMPORAL_DOWN),
    ("GET", "/api/v1/dashboard/summary"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/dashboard/timeseries"): Rule(BUSINESS, 200),
    ("GET", "/api/v1/usage"): Rule(BUSINESS, 200),
    # audit log
    ("GET", "/api/v1/events"): Rule(OWNER_ONLY, 200),
    # platform
    ("GET", "/api/v1/admin/events"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/reconcile"): Rule(ADMIN, TEMPORAL_DOWN),
    ("GET", "/api/v1/admin/users"): Rule(ADMIN, 200),
    ("PATCH", "/api/v1/admin/users/{user_id}"): Rule(ADMIN, 200),
    ("POST", "/api/v1/admin/users/{user_id}/password-reset"): Rule(ADMIN, 200),
    ("GET", "/api/v1/admin/businesses"): Rule(ADMIN, 200),
    ("GET", "/api/v1/admin/usage"): Rule(ADMIN, 200),
}


# The callers each route is tried as.
ANONYMOUS = "anonymous"
MEMBER = "member of A"
OTHER_OWNER = "owner of B"
SUPERUSER_BARE = "superuser without X-Business-Id"
OWNER = "owner of A"
SUPERUSER = "superuser with X-Business-Id: A"


@dataclass
class World:
    """Business A (owner, member, one object of each kind), business B and a superuser."""

    app: Any
    http: httpx.AsyncClient
    owner: Tenant
    member: Tenant
    other: Tenant
    superuser: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    staff_email: str = ""

    def headers(self, caller: str) -> dict[str, str]:
        return {
            ANONYMOUS: {},
            MEMBER: self.member.headers,
            OTHER_OWNER: self.other.headers,
            SUPERUSER_BARE: self.superuser,
            OWNER: self.owner.headers,
            SUPERUSER: {**self.superuser, "X-Business-Id": self.owner.business_id},
        }[caller]

    async def _post(self, path: str, body: dict[str, Any]) -> str:
        response = await self.http.post(path, headers=self.owner.headers, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def make(self, name: str) -> None:
        """(Re)create A's object behind the path parameter `name`."""
        if name == "client_id":
            self.ids[name] = await self._post(
                "/api/v1/clients",
                {"name": "Bob Builder", "email": "bob@client.example.com", "tags": ["vat"]},
            )
        elif name == "template_id":
            self.ids[name] = await self._post(
                "/api/v1/templates",
                {"name": "VAT", "subject": "VAT", "body": "Hi {{ client.name }}"},
            )
        elif name == "identity_id":
            self.ids[name] = await self._post(
                "/api/v1/sender-identities",
                {"channel": "email", "from_email": "office@acme.example.com"},
            )
        elif name == "config_id":
            self.ids[name] = await self._post(
                "/api/v1/email-configurations",
                {
                    "name": f"Office {uuid.uuid4().hex[:6]}",
                    "host": "127.0.0.1",
                    "port": unused_port(),
                    "security": "none",
                    "username": "office",
                    "password": EMAIL_CONFIG_PASSWORD,
                    "from_email": "office@acme.example.com",
                },
            )
        elif name == "member_id":
            staff = await add_member(self.http, self.owner)
            self.staff_email = staff.email
            listing = await self.http.get("/api/v1/business/members", headers=self.owner.headers)
            rows = listing.json()["items"]
            self.ids[name] = next(m["id"] for m in rows if m["user_id"] == staff.user_id)
        elif name == "reminder_id":
            seed = Seeded(
                self.app.state.sessionmaker,
                uuid.UUID(self.owner.business_id),
                uuid.UUID(self.ids["client_id"]),
            )
            row = await add_reminder(
                seed,
                {"kind": "once", "at": "2099-01-01T09:00:00+00:00"},
                body="Hi {{ client.name }}",
                status="scheduled",
            )
            self.ids[name] = str(row.id)
            now = utcnow()
            async with self.app.state.sessionmaker() as session:
                delivery = Delivery(
                    business_id=row.business_id,
                    reminder_id=row.id,
                    client_id=seed.client_id,
                    channel="email",
                    occurrence_key="2099-01-01T09:00:00Z",
                    status="delivered",
                    attempts=1,
                    to_address="bob@client.example.com",
                    subject="VAT",
                    body="Hi Bob Builder",
                    provider_message_id="sandbox-0001",
                    scheduled_for=now - timedelta(hours=1),
                    sent_at=now - timedelta(hours=1),
                    delivered_at=now,
                )
                session.add(delivery)
                await session.commit()
                self.ids["delivery_id"] = str(delivery.id)
        elif name == "twilio":
            # Both businesses use one Twilio account, each with a token of its own (Twilio's
            # primary and secondary tokens); stored as a saved account is, and the local
            # Twilio the app checks with knows the account (PUT asks it).
            twilio = FakeTwilio.serving(self.app.state.settings.TWILIO_API_BASE_URL)
            twilio.add_account(TWILIO_ACCOUNT, TWILIO_CONFIG_TOKEN)
            async with self.app.state.sessionmaker() as session:
                await session.execute(delete(TwilioCredentials))  # made again after a DELETE
                for tenant, account, token in (
                    (self.owner, TWILIO_ACCOUNT, TWILIO_CONFIG_TOKEN),
                    (self.other, TWILIO_ACCOUNT, RIVAL_TWILIO_TOKEN),
                ):
                    session.add(
                        TwilioCredentials(
                            business_id=uuid.UUID(tenant.business_id),
                            account_sid=account,
                            auth_token_encrypted=encrypt(token, self.app.state.settings),
                        )
                    )
                await session.commit()
        elif name == "token":
            self.ids[name] = "not-a-signed-token"
        elif name == "user_id":
            self.ids[name] = self.member.user_id  # an account superusers administer
        else:  # pragma: no cover - a new path parameter needs an object here
            raise AssertionError(f"no object for path parameter {name}")


async def build_world(app: Any, http: httpx.AsyncClient) -> World:
    owner = await register_tenant(http, "Acme")
    world = World(
        app=app,
        http=http,
        owner=owner,
        member=await add_member(http, owner),
        other=await register_tenant(http, "Rival"),
        superuser=await superuser_headers(app, http),
    )
    # B has one of everything too, so "404" is never just "B has no such table rows".
    for path, body in (
        ("/api/v1/clients", {"name": "Rival Client"}),
        ("/api/v1/templates", {"name": "Rival", "body": "Hi"}),
        ("/api/v1/sender-identities", {"channel": "email", "from_email": "b@rival.example"}),
        (
            "/api/v1/email-configurations",
            {"name": "Rival", "host": "smtp.rival.example", "from_email": "b@rival.example"},
        ),
    ):
        response = await http.post(path, headers=world.other.headers, json=body)
        assert response.status_code == 201, response.text
    for name in (
        "client_id",
        "template_id",
        "identity_id",
        "config_id",
        "member_id",
        "reminder_id",
        "token",
        "user_id",
        "twilio",
    ):
        await world.make(name)
    return world


def body_for(world: World, route: tuple[str, str]) -> dict[str, Any]:
    """httpx keyword arguments: a minimal valid body for the route (none when it takes none)."""
    client_id = world.ids["client_id"]
    bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("PATCH", "/api/v1/users/me"): lambda: {"json": {"full_name": "Renamed Person"}},
        ("PATCH", "/api/v1/business"): lambda: {"json": {"name": "Renamed Co"}},
        ("POST", "/api/v1/business/members"): lambda: {
            "json": {
                "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
                "full_name": "New Staff",
                "password": PASSWORD,
            }
        },
        ("POST", "/api/v1/clients"): lambda: {"json": {"name": "New Client"}},
        ("POST", "/api/v1/clients/import"): lambda: {
            "files": {"file": ("c.csv", b"name,email\nImported,imp@example.com\n", "text/csv")}
        },
        ("PATCH", "/api/v1/clients/{client_id}"): lambda: {"json": {"name": "Renamed"}},
        ("POST", "/api/v1/sender-identities"): lambda: {
            "json": {"channel": "sms", "from_number": "+447911000111"}
        },
        ("PATCH", "/api/v1/sender-identities/{identity_id}"): lambda: {
            "json": {"from_name": "Renamed"}
        },
        ("POST", "/api/v1/sender-identities/{identity_id}/confirm"): lambda: {
            "json": {"code": "000000"}
        },
        ("POST", "/api/v1/email-configurations"): lambda: {
            "json": {
                "name": f"New {uuid.uuid4().hex[:6]}",
                "host": "smtp.example.com",
                "from_email": "new@acme.example.com",
            }
        },
        ("PATCH", "/api/v1/email-configurations/{config_id}"): lambda: {
            "json": {"from_name": "Renamed"}
        },
        ("PUT", TWILIO_PATH): lambda: {
            "json": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_CONFIG_TOKEN}
        },
        ("POST", "/api/v1/templates"): lambda: {
            "json": {"name": f"New {uuid.uuid4().hex[:6]}", "body": "Hi"}
        },
        ("POST", "/api/v1/templates/preview"): lambda: {
            "json": {"body": "Hi {{ client.name }}", "client_id": client_id}
        },
        ("PATCH", "/api/v1/templates/{template_id}"): lambda: {"json": {"name": "Renamed"}},
        ("POST", "/api/v1/reminders"): lambda: {
            "json": {
                "title": "VAT",
                "type": "deadline",
                "client_ids": [client_id],
                "body": "Hi",
                "schedule": {"kind": "once", "at": "2099-06-01T09:00:00+00:00"},
            }
        },
        ("PATCH", "/api/v1/reminders/{reminder_id}"): lambda: {"json": {"title": "Renamed"}},
        ("PATCH", "/api/v1/admin/users/{user_id}"): lambda: {"json": {"full_name": "Renamed"}},
        ("POST", "/api/v1/webhooks/twilio/status"): lambda: {
            "data": {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
        },
        ("POST", "/api/v1/webhooks/twilio/inbound"): lambda: {
            "data": {"From": "+447911123456", "Body": "STOP"}
        },
    }
    if route in bodies:
        return bodies[route]()
    if TABLE[route].category == PUBLIC:
        return {"json": {}}
    return {}


def url_for(world: World, path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)


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
HISTORIES = Path(__file__).parent / "workflows" / "histories"


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
