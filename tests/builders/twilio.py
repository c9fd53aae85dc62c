"""Twilio's webhooks, signed as Twilio signs them; client imports and unsubscribe links."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from core.models import Delivery, Reminder, SenderIdentity, TwilioCredentials
from core.settings import Settings
from core.types import utcnow
from core.unsubscribe import unsubscribe_url
from tests.conftest import (
    PUBLIC_BASE_URL,
    TWILIO_TOKEN,
    Tenant,
)
from tests.fakes.twilio_api import sign

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
