"""Apps of their own, called from an address of their own (limits and throttles); sender identities and their one-time codes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.settings import Settings
from tests.conftest import (
    Tenant,
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
